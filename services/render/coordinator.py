"""Per-target rebuild coordination: build at once when idle, coalesce bursts, never lose one.

Each target is a small state machine in Redis (`nw:target:<name>`):

    idle ──event──▶ queued ──task starts──▶ building ──done──▶ cooling ──window ends──▶ idle
                      ▲                                                   │
                      └──────────── events arrived meanwhile ─────────────┘

`want` is the newest event id that touched the target and `done` the newest one a finished
build covered. A queued or building target whose lease runs out (its task or worker was
lost) is queued again. All transitions are one Lua script, so any number of dispatchers
and workers may share the work.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.resources import files

import redis

from shared import keys
from shared.settings import Settings

_TARGET_PREFIX = keys.TARGET.format(target="")


class Coordinator:
    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._script = client.register_script(
            files("services.render.lua").joinpath("coordinate.lua").read_text()
        )
        self._redis = client
        self._lease_ms = settings.build_lease_ms
        self._window_ms = settings.debounce_window_ms

    def mark(self, touched: list[tuple[str, str]]) -> list[str]:
        """Record (target, event id) pairs; returns the targets to enqueue now."""
        if not touched:
            return []
        flat = [value for pair in touched for value in pair]
        return self._decode(self._call("mark", *flat))

    def begin(self, target: str) -> str | None:
        """Start a build; returns the watermark it covers, or None if nothing is owed."""
        watermark = self._call("begin", target)
        return watermark.decode() if watermark else None

    def finish(self, target: str, watermark: str) -> None:
        self._call("finish", target, watermark)

    def due(self, limit: int = 1000) -> tuple[list[str], int | None]:
        """Targets whose cooling window or lease ended and that must be enqueued now, and
        the milliseconds until the next one falls due (None when nothing is waiting)."""
        wait_ms, *targets = self._call("due", limit)  # type: ignore[misc]
        return self._decode(targets), (None if wait_ms < 0 else wait_ms)

    def done_marks(self, targets: Iterable[str]) -> list[tuple[str, str | None]]:
        """(target, the newest event id a finished build of it covered), for each target."""
        targets = list(targets)
        pipe = self._redis.pipeline(transaction=False)
        for target in targets:
            pipe.hget(keys.target(target), "done")
        marks = pipe.execute() if targets else []
        return [(t, m.decode() if m else None) for t, m in zip(targets, marks, strict=True)]

    def builds(self, target: str | None = None) -> int:
        """How many builds have finished, ever: of one target, or of all."""
        if target is None:
            return int(self._redis.get(keys.BUILDS) or 0)
        return int(self._redis.hget(keys.target(target), "builds") or 0)

    def _call(self, op: str, *args: str | int) -> object:
        return self._script(
            keys=[keys.DUE, keys.BUILDS],
            args=[op, _TARGET_PREFIX, self._lease_ms, self._window_ms, *args],
        )

    @staticmethod
    def _decode(targets: object) -> list[str]:
        return [t.decode() for t in targets]  # type: ignore[attr-defined]
