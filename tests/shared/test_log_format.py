"""The JSON log line: one object a line whatever a message holds, Turkish text readable, the
traceback and the context fields where they belong."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.log_format import (
    JsonFormatter,
    bind_log_context,
    log_context,
    logging_config,
    reset_log_context,
)
from shared.settings import Settings

HEADLINE = "Rusya'dan flaş çıkış: Şansımız var — İstanbul’da AGİT"


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of its own, writing JSON lines to a buffer (the process's logging untouched)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.log_format")
    logger.handlers, logger.propagate, logger.level = [handler], False, logging.DEBUG
    yield logger, out
    logger.handlers, logger.propagate = [], True


def test_a_lone_surrogate_never_breaks_the_line() -> None:
    # Formatted directly, not logged: pytest's log capture keeps every record for its report,
    # and xdist cannot send a report holding a lone surrogate.
    message = b"a lone surrogate \x80 from undecodable bytes".decode("utf-8", "surrogateescape")
    record = logging.LogRecord("tests.log_format", logging.INFO, __file__, 1, message, None, None)
    line = JsonFormatter().format(record)
    line.encode("utf-8")  # strict: no lone surrogate reaches the stream
    assert "\n" not in line
    assert json.loads(line)["message"] == message


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    text = out.getvalue()
    text.encode("utf-8")  # strict: no lone surrogate reaches the stream
    # splitlines() splits on every line boundary Unicode has (NEL, U+2028, ...), not just \n.
    return [json.loads(line) for line in text.splitlines()]


def test_a_line_has_time_level_logger_and_message(logged) -> None:
    logger, out = logged
    logger.warning("built %s in %d ms", "feed:section:dunya", 12)
    [entry] = lines(out)
    assert entry == {
        "time": entry["time"],
        "level": "WARNING",
        "logger": "tests.log_format",
        "message": "built feed:section:dunya in 12 ms",
    }
    assert entry["time"].endswith("Z")
    when = datetime.fromisoformat(entry["time"].replace("Z", "+00:00"))
    assert when.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - when) < timedelta(minutes=5)


def test_turkish_text_stays_readable(logged) -> None:
    logger, out = logged
    logger.info(HEADLINE)
    assert HEADLINE in out.getvalue()  # as UTF-8, not \u escapes
    assert lines(out)[0]["message"] == HEADLINE


@pytest.mark.parametrize(
    "message",
    [
        "two\nlines",
        'forged\r\n{"level": "INFO"}',
        "\x1b[31mred\x1b[0m and a \x00 and a \x07",
        "next line \x85, line separator \u2028, paragraph \u2029",
        'quotes " and backslashes \\',
    ],
    ids=["newline", "forged-line", "escapes", "unicode-breaks", "quotes"],
)
def test_control_characters_never_break_the_line(logged, message: str) -> None:
    logger, out = logged
    logger.info(message)
    assert out.getvalue().count("\n") == 1
    [entry] = lines(out)
    assert entry["message"] == message


def test_an_exception_is_one_string_in_the_line(logged) -> None:
    logger, out = logged
    try:
        raise ValueError(f"kötü başlık: {HEADLINE}")
    except ValueError:
        logger.exception("build of %s failed", "feed:all")
    [entry] = lines(out)
    assert entry["level"] == "ERROR"
    assert entry["message"] == "build of feed:all failed"
    assert entry["exc_info"].startswith("Traceback (most recent call last):")
    assert entry["exc_info"].endswith(f"ValueError: kötü başlık: {HEADLINE}")


def test_no_exception_no_exc_info(logged) -> None:
    logger, out = logged
    logger.exception("asked for a traceback with no exception being handled")
    logger.error("no traceback", exc_info=False)
    assert all("exc_info" not in entry for entry in lines(out))


def test_extra_fields_named_for_the_context_are_kept_others_left_out(logged) -> None:
    logger, out = logged
    # Servers put their own things in extra (uvicorn a coloured copy, Celery a dict): only the
    # context fields make it to the line, so the shape stays fixed.
    logger.info(
        "card", extra={"target": "card:a-1", "article_id": "a-1", "color_message": "\x1b[1m"}
    )
    [entry] = lines(out)
    assert entry["target"] == "card:a-1"
    assert entry["article_id"] == "a-1"
    assert "color_message" not in entry


def test_context_fields_apply_within_their_block(logged) -> None:
    logger, out = logged
    with log_context(request_id="r-1"):
        with log_context(article_id="dunya-1"):
            logger.info("inner")
        logger.info("outer", extra={"request_id": "from-extra"})
    logger.info("after")
    inner, outer, after = lines(out)
    assert (inner["request_id"], inner["article_id"]) == ("r-1", "dunya-1")
    assert outer["request_id"] == "from-extra"  # what a call passes wins
    assert "article_id" not in outer
    assert not {"request_id", "article_id", "target"} & set(after)


def test_concurrent_requests_keep_their_own_ids(logged) -> None:
    logger, out = logged

    async def request(request_id: str) -> None:
        token = bind_log_context(request_id=request_id)
        try:
            await asyncio.sleep(0)  # the other request runs in between
            logger.info("handled %s", request_id)
        finally:
            reset_log_context(token)

    async def both() -> None:
        await asyncio.gather(request("a"), request("b"))

    asyncio.run(both())
    assert {(e["message"], e["request_id"]) for e in lines(out)} == {
        ("handled a", "a"),
        ("handled b", "b"),
    }


def test_an_unknown_context_field_is_refused() -> None:
    with pytest.raises(TypeError, match="request_id"):
        bind_log_context(requestid="typo")


def test_a_broken_log_call_still_gives_a_line() -> None:
    # Formatted directly: pytest's own log capture would raise on such a call first.
    record = logging.LogRecord("tests", logging.INFO, __file__, 1, "%s and %s", ("one",), None)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"].startswith("'%s and %s' with arguments ('one',): TypeError")


def test_text_is_the_default_and_json_is_asked_for() -> None:
    text = logging_config(Settings())["formatters"]["newswire"]
    assert "class" not in text and "%(message)s" in text["format"]
    json_config = logging_config(Settings(log_format="json"))["formatters"]["newswire"]
    assert json_config == {"class": "shared.log_format.JsonFormatter"}
