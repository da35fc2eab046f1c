"""Build one target: read current state, render through its kind's renderer, apply under a
watermark.

A failed build is never lost and never loops: the coordinator retries it after a short
delay (transient errors) or parks it as a dead letter; other targets build on meanwhile.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Literal

import redis
import requests
from kombu.exceptions import OperationalError

from services.render.pipeline import last_builds
from services.render.pipeline.coordinator import Coordinator
from services.render.pipeline.rendering import Output, RenderContext, Renderers
from shared.net.fetcher import Fetcher, FetchFailed
from shared.settings import Settings
from shared.state.article_reader import ArticleReader
from shared.state.dead_letters import DeadLetters
from shared.state.script_calls import ScriptCall
from shared.state.sweeper import Sweeper
from shared.store import ArtifactStore
from shared.store.artifacts import Artifact

log = logging.getLogger(__name__)

BuildOutcome = Literal["published", "superseded", "skipped", "retried", "dead"]

# Failures worth a retry: the next attempt may well succeed. Anything else is a fault in the
# data or the code, and repeating it only repeats the failure, so it is parked at once.
TRANSIENT: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    OperationalError,  # the broker
    FetchFailed,  # a fetch's deadline or transport
    requests.ConnectionError,
    requests.Timeout,
)


@dataclass(frozen=True)
class Announcement:
    """What a published build tells others (WebSub: which topics changed, to queue their
    deliveries): a script call sent with the build's finish, in its round trip, and what is
    done with its reply once the build has finished."""

    call: ScriptCall
    then: Callable[[Any], None]


@dataclass(frozen=True)
class BuildContext:
    """Everything a build needs, made once per worker process."""

    settings: Settings
    redis: redis.Redis
    reader: ArticleReader
    store: ArtifactStore
    coordinator: Coordinator
    renderers: Renderers
    sweeper: Sweeper
    enqueue: Callable[[str], None]  # queue a build of a target
    fetcher: Fetcher  # outbound HTTP, guarded (article images)
    # Told of every published build's artifacts (WebSub notifies subscribers).
    after_publish: Sequence[Callable[[str, Sequence[Artifact]], Announcement | None]] = ()

    @cached_property
    def render_context(self) -> RenderContext:
        return RenderContext(self.settings, self.reader, self.store, self.redis, self.fetcher)


def build_target(target: str, ctx: BuildContext) -> BuildOutcome:
    """Rebuild `target` if an event is owed to it; safe to run twice for the same event.

    Raises:
        ValueError: `target` is not a known target name.
    """
    renderer = ctx.renderers.for_target(target)
    started = time.perf_counter()
    render_context = ctx.render_context
    # The render's first read goes with the begin, in its round trip.
    first = renderer.first_read(target, render_context)
    # Who holds the lease, for operators; read per build, as a pool forks its processes.
    holder = f"{socket.gethostname()}:{os.getpid()}"
    begun = ctx.coordinator.begin_with(target, holder, [first] if first else [])
    watermark = begun.watermark
    if watermark is None:
        return "skipped"
    if first is not None:
        render_context = replace(render_context, first_reply=begun.replies[0])
    try:
        with _leases.kept(ctx.coordinator, target):
            output = renderer.render(target, render_context)
            published = _apply(target, output, watermark, ctx)
            announcements = _announce(target, output, ctx) if published else []
            # Before finishing: if queueing them fails, the build fails and is retried.
            for follower in ctx.coordinator.mark(_follow_ups(output.then, ctx)):
                ctx.enqueue(follower)
    except Exception as exc:  # every failure is retried or parked, none lost
        return _failed(target, exc, ctx)
    outcome: BuildOutcome = "published" if published else "superseded"
    took_ms = (time.perf_counter() - started) * 1000
    # The newest build of its kind, for `newswire status`, and the announcements go in the
    # finish's round trip.
    kind = ctx.renderers.registry.kind(target).name
    last = last_builds.LastBuild(kind, target, outcome, time.time(), took_ms / 1000)
    calls = [announcement.call for announcement in announcements]
    owed_ms, replies = ctx.coordinator.finish_with(target, watermark, last, calls)
    for announcement, reply in zip(announcements, replies, strict=True):
        _told(target, announcement, reply)
    # How long readers waited for this output: from the first event it covers to now; and
    # of that, how long its task waited for a worker.
    owed = f"owed {_ms(owed_ms)} ms; queued {_ms(begun.queued_ms)} ms"
    log.info("built %s at %s (%s; %s; took %.1f ms)", target, watermark, outcome, owed, took_ms)
    return outcome


def _ms(value: int | None) -> str:
    return "?" if value is None else str(value)


def _announce(target: str, output: Output, ctx: BuildContext) -> list[Announcement]:
    """What the `after_publish` hooks make of a published build's artifacts."""
    found = (hook(target, output.artifacts) for hook in ctx.after_publish)
    return [announcement for announcement in found if announcement] if output.artifacts else []


def _told(target: str, announcement: Announcement, reply: Any) -> None:
    """Act on an announcement's reply. The build is finished by then: a broker away now
    costs this change's WebSub deliveries (as it did when a build failed on them, since its
    retry publishes the same bytes, nothing new to announce), not the build."""
    try:
        announcement.then(reply)
    except TRANSIENT as exc:
        log.error(
            "built %s, but could not queue its WebSub deliveries (%s): its subscribers hear "
            "of its next change",
            target, exc,
        )  # fmt: skip


class _LeaseKeeper:
    """Renews the leases of this process's builds in progress, every third of a lease, from
    one thread (started with the first build), so only a lost worker's lease runs out and a
    slow build is never started twice."""

    def __init__(self) -> None:
        self._building: dict[str, Coordinator] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    @contextmanager
    def kept(self, coordinator: Coordinator, target: str) -> Iterator[None]:
        with self._lock:
            self._building[target] = coordinator
            if self._pid != os.getpid():  # none yet, or it stayed behind in the parent
                self._pid = os.getpid()
                every_s = coordinator.lease_ms / 3000
                self._thread = threading.Thread(
                    target=self._renew, args=(every_s,), name="lease keeper", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._building.pop(target, None)

    def _renew(self, every_s: float) -> None:
        while True:
            time.sleep(every_s)
            with self._lock:
                building = list(self._building.items())
            for target, coordinator in building:
                try:
                    coordinator.renew(target)
                except redis.RedisError as exc:  # a dead connection must not hold the others
                    log.warning("could not renew the lease of %s: %s", target, exc)


_leases = _LeaseKeeper()


def _failed(target: str, exc: Exception, ctx: BuildContext) -> BuildOutcome:
    failure = ctx.coordinator.fail(target, isinstance(exc, TRANSIENT))
    if failure.retry_in_ms is not None:
        log.warning(
            "build of %s failed (attempt %d: %s: %s); retrying in %d ms",
            target, failure.attempts, type(exc).__name__, exc, failure.retry_in_ms,
        )  # fmt: skip
        return "retried"
    if not failure.parked:  # its lease had run out: another build owns the target now
        log.warning("late build of %s failed: %s: %s", target, type(exc).__name__, exc)
        return "superseded"
    DeadLetters(ctx.redis).park_build(target, failure.attempts, exc)
    log.error(
        "build of %s failed %d times; parked (`newswire dead-letters`)",
        target, failure.attempts, exc_info=exc,
    )  # fmt: skip
    return "dead"


def _follow_ups(targets: Sequence[str], ctx: BuildContext) -> list[tuple[str, str]]:
    """(target, event id) marks owing each follow-up one build of what was just published.

    The id is a new event's: this build's own watermark may be older than one a follower was
    already built at (another leader's), and such a mark would be dropped as already covered.
    """
    if not targets:
        return []
    fields = {"type": "targets.rebuild", "id": "", "rev": 0, "targets": json.dumps(list(targets))}
    event_id = ctx.redis.xadd(ctx.settings.events_stream, fields)
    return [(name, event_id.decode()) for name in targets]


def _apply(target: str, output: Output, watermark: str, ctx: BuildContext) -> bool:
    published = ctx.store.publish(target, output.artifacts, watermark)
    if published and output.remove:
        published = ctx.store.delete(target, output.remove, watermark, gone=output.gone)
    if output.wake_at_ms is not None:
        ctx.sweeper.schedule(target, output.wake_at_ms)
    return published
