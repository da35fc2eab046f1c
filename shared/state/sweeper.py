"""The sweeper: embargo releases and time-driven rebuilds, from one sorted set.

Ingest schedules `release:<id>` when an article's publish time is in the future; a build
schedules `target:<name>` for the moment its output changes with time alone (an item leaving
the news sitemap's 48-hour window, a tombstone expiring). `sweep` turns due members into
events on the stream, so a wakeup takes the same path as any change: once, and never early.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from shared.settings import Settings
from shared.state import redis_keys
from shared.state.article_writer import lua
from shared.state.script_calls import ScriptCall


@dataclass(frozen=True)
class SweepResult:
    released: int  # embargoed articles published
    due: int  # targets owed a rebuild
    next_in_ms: int | None  # until the next member falls due (None: nothing waits)


class Sweeper:
    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._redis = client
        self._script = client.register_script(lua("sweep.lua"))
        self._keys = [redis_keys.SWEEP, settings.events_stream]
        self._article_prefix = redis_keys.family(redis_keys.ARTICLE)

    def schedule(self, target: str, due_ms: int) -> None:
        """Rebuild `target` at `due_ms` (Redis time), or earlier if already scheduled so.

        The earliest wins: a build racing an older one may know of an earlier change, and
        waking too early costs one build that changes nothing.
        """
        self._redis.zadd(redis_keys.SWEEP, {f"target:{target}": due_ms}, lt=True)

    def sweep(self, limit: int = 500) -> SweepResult:
        return self.result_of(self.sweep_call(limit).run(self._redis))

    def sweep_call(self, limit: int = 500) -> ScriptCall:
        """The script call `sweep` sends, to send in another's round trip (`result_of` reads
        its reply): the dispatcher sends it with its `due`."""
        return ScriptCall(self._script, self._keys, [self._article_prefix, limit])

    @staticmethod
    def result_of(reply: Any) -> SweepResult:
        released, due, next_in = reply
        return SweepResult(int(released), int(due), None if next_in < 0 else int(next_in))
