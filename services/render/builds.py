"""Build one target: read current state, render through its kind, apply under a watermark."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import redis

from services.render.coordinator import Coordinator
from services.render.kinds import Registry
from services.render.kinds.base import Output, RenderContext
from shared.article_reader import ArticleReader
from shared.artifacts import Artifact
from shared.fetcher import Fetcher
from shared.settings import Settings
from shared.store import ArtifactStore
from shared.sweeper import Sweeper

log = logging.getLogger(__name__)

BuildOutcome = Literal["published", "superseded", "skipped"]


@dataclass(frozen=True)
class BuildContext:
    """Everything a build needs, made once per worker process."""

    settings: Settings
    redis: redis.Redis
    reader: ArticleReader
    store: ArtifactStore
    coordinator: Coordinator
    registry: Registry
    sweeper: Sweeper
    enqueue: Callable[[str], None]  # queue a build of a target
    fetcher: Fetcher  # outbound HTTP, guarded (article images)
    # Told of every published build's artifacts (WebSub notifies subscribers).
    after_publish: Sequence[Callable[[str, Sequence[Artifact]], None]] = ()

    @cached_property
    def render_context(self) -> RenderContext:
        return RenderContext(self.settings, self.reader, self.store, self.redis, self.fetcher)


def build_target(target: str, ctx: BuildContext) -> BuildOutcome:
    """Rebuild `target` if an event is owed to it; safe to run twice for the same event.

    Raises:
        ValueError: `target` is not a known target name.
    """
    kind = ctx.registry.kind(target)
    watermark = ctx.coordinator.begin(target)
    if watermark is None:
        return "skipped"
    output = kind.render(target, ctx.render_context)
    published = _apply(target, output, watermark, ctx)
    ctx.coordinator.finish(target, watermark)
    for follower in ctx.coordinator.mark([(name, watermark) for name in output.then]):
        ctx.enqueue(follower)
    log.info("built %s at %s (%s)", target, watermark, "published" if published else "superseded")
    return "published" if published else "superseded"


def _apply(target: str, output: Output, watermark: str, ctx: BuildContext) -> bool:
    published = ctx.store.publish(target, output.artifacts, watermark)
    if published and output.remove:
        published = ctx.store.delete(target, output.remove, watermark, gone=output.gone)
    if output.wake_at_ms is not None:
        ctx.sweeper.schedule(target, output.wake_at_ms)
    for hook in ctx.after_publish if published and output.artifacts else ():
        hook(target, output.artifacts)
    return published
