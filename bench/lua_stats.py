"""What each Lua script costs inside Redis: sampled from SLOWLOG, by script.

Redis counts every EVALSHA alike in INFO commandstats, whatever script it ran. For a short
window this logs every command (`slowlog-log-slower-than 0`) with its duration and its first
arguments, which name the script by its SHA-1; the script of each hash is known here. The
window costs Redis a little (one log entry per command), so keep it short.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_LOG_MAX = 50_000
# What the write step may cost inside Redis per article: its read of the article's
# bookkeeping (shared/state/upsert_plan.py plans the write from it) and the upsert script.
UPSERT_TARGET_US = 50.0
# The writer's reads (shared/state/article_writer.py): of an article hash, told from others
# by its first field; of the target set and the names.
_PLAN_READ = "upsert read"


def _sha(source: str) -> str:
    return hashlib.sha1(source.encode()).hexdigest()


def known_scripts() -> dict[str, str]:
    """SHA-1 → name of the scripts ingest and the builds run on every article."""
    from services.ingest.rate_limit import _SCRIPT as RATE_LIMIT
    from shared.state.article_writer import lua
    from shared.websub import _CLAIM as WEBSUB_CLAIM

    return {
        _sha(lua("upsert.lua")): "upsert",
        _sha(lua("retract.lua")): "retract",
        _sha(lua("feed_read.lua")): "feed read",
        _sha(WEBSUB_CLAIM): "websub claim",
        _sha(RATE_LIMIT): "rate limit",
        _sha(_coordinate_source()): _COORDINATE,
    }


_COORDINATE = "coordinate"


def _coordinate_source() -> str:
    from importlib.resources import files

    return files("services.render.pipeline.lua").joinpath("coordinate.lua").read_text()


@dataclass
class LuaSample:
    """Calls and µs inside Redis per script over the window (others: "build coordination"
    and the like, all scripts ingest does not run)."""

    seconds: float = 0.0
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    usec: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def per_call(self, name: str) -> float | None:
        return self.usec[name] / self.calls[name] if self.calls.get(name) else None

    def per_article(self) -> float | None:
        """µs inside Redis per article written: the upsert script and the writer's reads (of
        articles left unwritten too: unchanged, stale)."""
        if not self.calls.get("upsert"):
            return None
        return (self.usec["upsert"] + self.usec.get(_PLAN_READ, 0)) / self.calls["upsert"]

    def upsert_line(self) -> str:
        """The write step's cost per article beside its target."""
        per = self.per_article()
        if per is None:
            return f"upsert:  (no upsert in the sampled window)  target ≤ {UPSERT_TARGET_US:.0f} µs"
        verdict = "met" if per <= UPSERT_TARGET_US else "MISSED"
        reads = self.usec.get(_PLAN_READ, 0) / self.calls["upsert"]
        return (
            f"upsert:  {per:.0f} µs inside Redis per article written (script "
            f"{self.per_call('upsert'):.0f} µs, its read {reads:.0f} µs)"
            f"  target ≤ {UPSERT_TARGET_US:.0f} µs  {verdict}"
        )

    def line(self) -> str:
        if not self.calls:
            return "lua:     (no script ran in the sampled window)"
        parts = [
            f"{name} {self.usec[name] / n:.0f} µs × {n:,}"
            for name, n in sorted(self.calls.items(), key=lambda kv: -kv[1])
        ]
        return (
            f"lua:     inside Redis per call, sampled over {self.seconds:.1f}s: "
            + ", ".join(parts)
            + "\n"
            + self.upsert_line()
        )


def sample_lua(db: Any, seconds: float) -> LuaSample:
    """Log every command for `seconds`, then sum EVALSHA durations by script."""
    return sample_during(db, lambda: time.sleep(seconds))


def sample_during(db: Any, work: Callable[[], object]) -> LuaSample:
    """Log every command while `work` runs, then sum EVALSHA durations by script (and the
    write step's reads)."""
    from shared.state import redis_keys
    from shared.state.upsert_plan import PLAN_FIELDS

    names, plan_field = known_scripts(), PLAN_FIELDS[0]
    # The writer's reads of a round: each article's bookkeeping, which of its targets are in
    # the target set, and which are named.
    plan_reads = {("SMISMEMBER", redis_keys.TARGETS), ("HMGET", redis_keys.NAMES)}
    saved = db.config_get("slowlog-*")
    sample = LuaSample()
    db.slowlog_reset()
    db.config_set("slowlog-max-len", _LOG_MAX)
    db.config_set("slowlog-log-slower-than", 0)
    began = time.monotonic()
    try:
        work()
    finally:
        db.config_set("slowlog-log-slower-than", saved["slowlog-log-slower-than"])
        sample.seconds = time.monotonic() - began
        entries = db.slowlog_get(_LOG_MAX)
        db.config_set("slowlog-max-len", saved["slowlog-max-len"])
        db.slowlog_reset()
    for entry in entries:
        command = entry["command"]
        if isinstance(command, bytes):
            command = command.decode(errors="replace")
        words = command.split(" ")
        verb = words[0].upper()
        if (verb == "HMGET" and len(words) > 3 and words[2] == plan_field) or (
            len(words) > 1 and (verb, words[1]) in plan_reads
        ):
            name = _PLAN_READ
        elif verb not in ("EVALSHA", "EVALSHA_RO") or len(words) < 2:
            continue
        else:
            name = names.get(words[1].lower(), "other scripts")
            if name == _COORDINATE and len(words) > 2 and words[2].isdigit():
                # The coordinator's one script does many things: name the op (after the keys).
                at = 3 + int(words[2])
                name = f"{_COORDINATE} {words[at] if at < len(words) else '?'}"
        sample.calls[name] += 1
        sample.usec[name] += int(entry["duration"])
    return sample


class LuaSampler:
    """Samples `seconds` of script costs in a thread, starting `after` seconds from now."""

    def __init__(self, db: Any, after: float, seconds: float) -> None:
        self.result = LuaSample()
        self._thread = threading.Thread(target=self._run, args=(db, after, seconds), daemon=True)

    def _run(self, db: Any, after: float, seconds: float) -> None:
        time.sleep(max(after, 0.0))
        self.result = sample_lua(db, seconds)

    def start(self) -> LuaSampler:
        self._thread.start()
        return self

    def join(self) -> LuaSample:
        self._thread.join()
        return self.result
