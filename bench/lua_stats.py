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
from dataclasses import dataclass, field
from typing import Any

_LOG_MAX = 50_000


def _sha(source: str) -> str:
    return hashlib.sha1(source.encode()).hexdigest()


def known_scripts() -> dict[str, str]:
    """SHA-1 → name of the scripts ingest runs on every write."""
    from services.ingest.rate_limit import _SCRIPT as RATE_LIMIT
    from shared.state.article_writer import lua

    return {
        _sha(lua("upsert.lua")): "upsert",
        _sha(lua("retract.lua")): "retract",
        _sha(RATE_LIMIT): "rate limit",
    }


@dataclass
class LuaSample:
    """Calls and µs inside Redis per script over the window (others: "build coordination"
    and the like, all scripts ingest does not run)."""

    seconds: float = 0.0
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    usec: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def per_call(self, name: str) -> float | None:
        return self.usec[name] / self.calls[name] if self.calls.get(name) else None

    def line(self) -> str:
        if not self.calls:
            return "lua:     (no script ran in the sampled window)"
        parts = [
            f"{name} {self.usec[name] / n:.0f} µs × {n:,}"
            for name, n in sorted(self.calls.items(), key=lambda kv: -kv[1])
        ]
        return f"lua:     inside Redis per call, sampled over {self.seconds:.1f}s: " + ", ".join(
            parts
        )


def sample_lua(db: Any, seconds: float) -> LuaSample:
    """Log every command for `seconds`, then sum EVALSHA durations by script."""
    names = known_scripts()
    saved = db.config_get("slowlog-*")
    sample = LuaSample()
    db.slowlog_reset()
    db.config_set("slowlog-max-len", _LOG_MAX)
    db.config_set("slowlog-log-slower-than", 0)
    began = time.monotonic()
    try:
        time.sleep(seconds)
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
        if words[0].upper() not in ("EVALSHA", "EVALSHA_RO") or len(words) < 2:
            continue
        name = names.get(words[1].lower(), "other scripts (build coordination)")
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
