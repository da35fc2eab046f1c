"""Per-target rebuild coordination: build at once when idle, coalesce bursts, never lose one.

Each target is a small state machine in Redis (a hash, `redis_keys.TARGET`):

    idle ──event──▶ queued ──task starts──▶ building ──done, quiet──▶ idle
     │ ▲             ▲  ▲                         │
     │ │             │  └─ delay ─ retrying ◀─failed (transient)
     │ │             │                            │ done, events arrived meanwhile (hot)
     │ │             └──── window ends ──── cooling ◀┘
     │ └─ window ends, nothing new ───────────┘ ▲
     └─ event within a window of the last build ┘

`want` is the newest event id that touched the target and `done` the newest one a finished
build covered. The window is adaptive: a quiet target (nothing arrived while it built) goes
idle at once, so its next event is built without waiting. Only a hot one cools: events that
arrived while it built, or within a window of its last build, wait for the window's end and
coalesce into one build. The window grows with the load on the target: after a build that
covered a burst (four events or more: they come faster than it builds), the next window is
twice the last, from `debounce_window_ms` up to `debounce_window_max_ms`; after a build that
covered fewer, it is the first again. A hot target also waits at least nine times its last
build's time, so no one target keeps more than a tenth of a worker busy, and under load (when
builds take longer) every window grows. So a burst costs a few builds and then one per
longest window, a steady stream the target keeps up with waits a short window at most, and
the usual trickle of events waits for none. A kind whose readers need it no fresher asks for
a longer least window (`Kind.least_window_ms`: sitemaps, read by crawlers).

A queued target not started within `build_promote_ms` (it waits behind more urgent builds,
in the broker or held by the dispatcher) is sent again, once, at the promoted priority: ahead
of every routine build, still behind the urgent ones (`shared.priorities`); one still waiting
at `build_deadline_ms` from its queueing is sent again, once, urgently. Whichever copy starts
first builds, and any other is skipped. So urgent builds wait behind no batch of promoted
ones, and no routine target starves behind urgent ones. Every build reports how long its
target was owed: from the first event it covers to its finish.

A building worker renews its lease (a third of it at a time), so a building target whose
lease runs out lost its worker, and is queued again. A queued target not started within a
lease is sent again once nothing waits ahead of it in the broker (its task was lost); never
while it waits behind others, which would only multiply a long queue. A failed build is
retried after each of the retry delays (transient errors only), then parked: left idle with
its dead letter, until a new event or `newswire dead-letters retry` gives it another build.
All transitions are one Lua script, so any number of dispatchers and workers may share the
work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from importlib.resources import files
from typing import Any, NamedTuple

import redis
from redis.client import Pipeline

from services.render.pipeline import last_builds
from shared.kinds.registry import Registry
from shared.settings import Settings
from shared.state import redis_keys
from shared.state.script_calls import CommandCall, ScriptCall, run_together

MARK_PAIRS = 256  # (target, event id) pairs a `mark` script call records at most
DUE_LIMIT = 256  # targets a `due` script call looks at, at most


class Due(NamedTuple):
    """What the dispatcher must do now about leases and windows that ended."""

    targets: list[str]  # to enqueue now
    wait_ms: int | None  # until the next one ends (None: nothing is waiting)
    stalled: list[str]  # queued, not started within a lease: `resend` those whose task is lost
    promoted: list[str]  # queued past the promotion delay: send again, promoted
    overdue: list[str]  # promoted, still queued past the deadline: send again, urgently


class Begun(NamedTuple):
    """A build's start (`Coordinator.begin_with`)."""

    watermark: str | None  # the newest event it covers; None: skip it
    queued_ms: int | None  # how long its task waited to start, if known
    replies: list[Any]  # of the reads sent with it


@dataclass(frozen=True)
class Failure:
    """What the coordinator made of a failed build."""

    attempts: int  # failed builds in a row, this one included
    retry_in_ms: int | None  # None: parked (or the target was no longer this build's)
    parked: bool


class Coordinator:
    def __init__(
        self, client: redis.Redis, settings: Settings, registry: Registry | None = None
    ) -> None:
        self._script = client.register_script(
            files("services.render.pipeline.lua").joinpath("coordinate.lua").read_text()
        )
        self._redis = client
        self._keys = [redis_keys.DUE, redis_keys.BUILDS, redis_keys.DEAD_BUILDS]
        self._target_prefix = redis_keys.family(redis_keys.TARGET)
        self._lease_ms = settings.build_lease_ms
        self._windows_ms = (
            settings.debounce_window_ms,
            max(settings.debounce_window_ms, settings.debounce_window_max_ms),
        )
        self._promote_ms = settings.build_promote_ms
        self._deadline_ms = settings.build_deadline_ms
        least = (registry or Registry.from_settings(settings)).least_windows()
        self._least_windows = ",".join(f"{kind}={ms}" for kind, ms in least.items())
        self._retry_ms = [round(delay * 1000) for delay in settings.build_retry_delays_s]

    @property
    def lease_ms(self) -> int:
        return self._lease_ms

    def mark(self, touched: list[tuple[str, str]]) -> list[str]:
        """Record (target, event id) pairs; returns the targets to enqueue now. A few hundred
        pairs a script call: a call holds Redis's one thread for all it does, and the
        thousand events of an import's batch, marked in one, held it for 35 ms."""
        return self.mark_with(touched, ())[0]

    def mark_with(
        self, touched: list[tuple[str, str]], along: Sequence[ScriptCall | CommandCall]
    ) -> tuple[list[str], list[Any]]:
        """`mark`, with `along` in the round trip of its last call: the targets to enqueue
        now, and the replies of `along`."""
        flats = [
            [value for pair in touched[start : start + MARK_PAIRS] for value in pair]
            for start in range(0, len(touched), MARK_PAIRS)
        ]
        found = []
        # One round trip each: pipelined, they would hold Redis's thread all at once.
        for flat in flats[:-1]:
            found += self._decode(self._call("mark", *flat))
        last = [self._op("mark", *flats[-1])] if flats else []
        replies = run_together(self._redis, [*last, *along]) if last or along else []
        if last:
            found += self._decode(replies.pop(0))
        return found, replies

    def begin(self, target: str, holder: str = "") -> str | None:
        """Start a build by `holder` (host:pid); returns the watermark it covers, or None if
        nothing is owed or another build holds a live lease."""
        return self.begin_with(target, holder, ()).watermark

    def begin_with(self, target: str, holder: str, along: Sequence[ScriptCall]) -> Begun:
        """`begin`, with `along` (reads of what the build shows) in the same round trip;
        their replies are unused if the build is skipped."""
        begun, *replies = run_together(self._redis, [self._op("begin", target, holder), *along])
        if not begun:
            return Begun(None, None, replies)
        watermark, queued_ms = begun
        return Begun(watermark.decode(), queued_ms if queued_ms >= 0 else None, replies)

    def renew(self, target: str) -> bool:
        """Extend the lease of a build in progress; False if the target is not building."""
        return bool(self._call("renew", target))

    def finish(
        self, target: str, watermark: str, last: last_builds.LastBuild | None = None
    ) -> int | None:
        """Record a finished build, and with `last` the newest build of its kind, in one
        round trip; returns how long the target had been owed (ms from the first event the
        build covered to now), or None if that is not known."""
        return self.finish_with(target, watermark, last, ())[0]

    def finish_with(
        self,
        target: str,
        watermark: str,
        last: last_builds.LastBuild | None,
        along: Sequence[ScriptCall],
    ) -> tuple[int | None, list[Any]]:
        """`finish`, with `along` (a published build's announcements) in the same round
        trip: the ms owed, and their replies."""
        record = None if last is None else partial(last_builds.record, build=last)
        call = self._op("finish", target, watermark)
        owed_ms, *replies = run_together(self._redis, [call, *along], also=record)
        return (int(owed_ms) if int(owed_ms) >= 0 else None), replies

    def fail(self, target: str, transient: bool) -> Failure:
        """Record a failed build: retry it after the next delay, or park it."""
        attempts, wait = self._call("fail", target, int(transient), *self._retry_ms)
        return Failure(int(attempts), int(wait) if wait >= 0 else None, parked=wait == -1)

    def release(self, targets: Sequence[str]) -> int:
        """Undo `mark` for targets whose task was never sent: queued → idle, so the event,
        delivered again, queues them again."""
        return int(self._call("release", *targets)) if targets else 0

    def reset_failures(self, targets: Sequence[str]) -> None:
        """Start parked targets' runs of failures over, before they are rebuilt again."""
        if targets:
            self._call("reset", *targets)

    def due(self, limit: int = DUE_LIMIT) -> Due:
        """Targets whose cooling window, retry delay or build lease ended, to enqueue now;
        and queued targets whose task has not started within a lease. A task waiting behind
        others is not lost, and sending it again would only add copies to a long queue, so
        the caller resends a stalled target only if nothing waits ahead of it. At most
        `limit` targets a call (the rest are due at once, for the next), as for `mark`."""
        return self.due_with(())[0]

    def due_with(
        self,
        along: Sequence[ScriptCall | CommandCall],
        also: Callable[[Pipeline], None] | None = None,
        limit: int = DUE_LIMIT,
    ) -> tuple[Due, list[Any]]:
        """`due`, with `along` and whatever `also` queues (see `run_together`) in the same
        round trip: the `Due`, and the replies of `along`."""
        reply, *replies = run_together(self._redis, [self._op("due", limit), *along], also)
        wait_ms, ready, promoted, overdue, *targets = reply
        names = self._decode(targets)
        late = ready + promoted
        due = Due(
            names[:ready],
            None if wait_ms < 0 else wait_ms,
            names[late + overdue :],
            names[ready:late],
            names[late : late + overdue],
        )
        return due, replies

    def promoted(self, targets: Sequence[str], overdue: bool = False) -> None:
        """Record that these targets (of `Due.promoted`, or with `overdue` of `Due.overdue`)
        need not be asked about again at that stage: sent again, or never worth it. The
        others are asked about again after the promotion delay, until their lease; promoted
        ones are asked about again at the deadline."""
        if targets:
            self._call("promoted", 2 if overdue else 1, *targets)

    def resend(self, targets: Sequence[str]) -> list[str]:
        """Queue stalled targets afresh (those still queued); returns the ones to send."""
        return self._decode(self._call("resend", *targets)) if targets else []

    def done_marks(self, targets: Iterable[str]) -> list[tuple[str, str | None]]:
        """(target, the newest event id a finished build of it covered), for each target."""
        targets = list(targets)
        pipe = self._redis.pipeline(transaction=False)
        for target in targets:
            pipe.hget(redis_keys.target(target), "done")
        marks = pipe.execute() if targets else []
        return [(t, m.decode() if m else None) for t, m in zip(targets, marks, strict=True)]

    def builds(self, target: str | None = None) -> int:
        """How many builds have finished, ever: of one target, or of all."""
        if target is None:
            return int(self._redis.get(redis_keys.BUILDS) or 0)
        return int(self._redis.hget(redis_keys.target(target), "builds") or 0)

    def _call(self, op: str, *args: str | int) -> Any:
        return self._op(op, *args).run(self._redis)

    def _op(self, op: str, *args: str | int) -> ScriptCall:
        return ScriptCall(self._script, self._keys, self._args(op, *args))

    def _args(self, op: str, *args: str | int) -> list[str | int]:
        return [
            op,
            self._target_prefix,
            self._lease_ms,
            *self._windows_ms,
            self._promote_ms,
            self._deadline_ms,
            self._least_windows,
            *args,
        ]

    @staticmethod
    def _decode(targets: object) -> list[str]:
        return [t.decode() for t in targets]  # type: ignore[attr-defined]
