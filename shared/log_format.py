"""How every Newswire process logs: plain text lines (the default), or one JSON object per
line for log pipelines (`NEWSWIRE_LOG_FORMAT=json`).

`configure_logging(settings)` is called once at each process's composition root. A JSON line
holds `time` (ISO 8601, UTC), `level`, `logger`, `message`, the context fields known where it
was logged (`request_id`, `article_id`, `target`: bound with `log_context` or passed as
`extra`), and `exc_info` (the traceback, as a string) when there is one. The HTTP servers'
own loggers (uvicorn's, granian's) are given `logging_config(settings)` so their lines take
the same shape. Warnings are logged in either format, and in JSON mode uncaught exceptions
too, so nothing Python writes to stderr breaks the one-object-a-line rule.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType, TracebackType
from typing import Any

from shared.settings import Settings

# The context a line may carry, in the order a JSON line lists them.
CONTEXT_FIELDS = ("request_id", "article_id", "target")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# The servers' loggers: without handlers of their own, their lines reach the root's; access
# logs stay off (configuring "uvicorn" would otherwise turn its child "uvicorn.access" on).
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "_granian")
_ACCESS_LOGGERS = ("uvicorn.access", "granian.access")

_CONTEXT: ContextVar[Mapping[str, str]] = ContextVar(
    "newswire_log_context", default=MappingProxyType({})
)
# What json.dumps(ensure_ascii=False) leaves raw but a line reader may split on (NEL, U+2028,
# U+2029) or an encoder refuse (lone surrogates); C1 controls and DEL with them.
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def bind_log_context(**fields: str) -> Token[Mapping[str, str]]:
    """Add `fields` to every line logged from here in this context (a request's task, a
    task's thread) until `reset_log_context(token)`.

    Raises:
        TypeError: a field other than CONTEXT_FIELDS.
    """
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise TypeError(f"unknown log context fields {sorted(unknown)}; use {CONTEXT_FIELDS}")
    return _CONTEXT.set(MappingProxyType({**_CONTEXT.get(), **fields}))


def reset_log_context(token: Token[Mapping[str, str]]) -> None:
    _CONTEXT.reset(token)


@contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """`fields` on every line logged inside the block."""
    token = bind_log_context(**fields)
    try:
        yield
    finally:
        reset_log_context(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line whatever the message holds; Turkish text
    stays readable (UTF-8, not \\u escapes)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="microseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        context = _CONTEXT.get()
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None) or context.get(field)
            if value is not None:
                entry[field] = str(value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        line = json.dumps(entry, ensure_ascii=False)
        return _UNSAFE.sub(lambda m: f"\\u{ord(m[0]):04x}", line)


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception as exc:  # a bad log call still gives a line, not a stderr traceback
        return f"{record.msg!r} with arguments {record.args!r}: {type(exc).__name__}: {exc}"


def logging_config(settings: Settings, level: int | str = logging.INFO) -> dict[str, Any]:
    """A `logging.config.dictConfig` dictionary: a new one each call, as dictConfig consumes
    parts of what it is given. uvicorn (in each of its worker processes too) and granian
    apply it themselves when given it."""
    if settings.log_format == "json":
        formatter = {"class": f"{__name__}.JsonFormatter"}
    else:
        formatter = {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"newswire": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "newswire",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            **{name: {"handlers": [], "propagate": True} for name in _SERVER_LOGGERS},
            **{name: {"handlers": [], "propagate": False} for name in _ACCESS_LOGGERS},
        },
    }


def configure_logging(settings: Settings, level: int | str = logging.INFO) -> None:
    """Log in `settings.log_format` at `level`, warnings included; in JSON mode, uncaught
    exceptions (of the main thread, other threads, and those Python can only ignore) too."""
    logging.config.dictConfig(logging_config(settings, level))
    logging.captureWarnings(True)
    if settings.log_format == "json":
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_thread_exception
        sys.unraisablehook = _log_unraisable


_uncaught = logging.getLogger("newswire.uncaught")


def _log_uncaught(
    kind: type[BaseException], value: BaseException, traceback: TracebackType | None
) -> None:
    _uncaught.critical("uncaught %s", kind.__name__, exc_info=(kind, value, traceback))


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:  # as the default hook: a thread's normal way out
        return
    name = args.thread.name if args.thread is not None else "unknown"
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback)
    _uncaught.error("uncaught %s in thread %s", args.exc_type.__name__, name, exc_info=exc_info)


def _log_unraisable(unraisable: Any) -> None:
    try:
        what = repr(unraisable.object)
    except Exception:
        what = "<unrepresentable object>"
    message = unraisable.err_msg or "Exception ignored in"
    exc_info = (unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback)
    _uncaught.warning("%s: %s", message, what, exc_info=exc_info)
