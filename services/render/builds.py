"""Build one target: read current state, render every format, publish under a watermark."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from services.render.coordinator import Coordinator
from services.render.feed_formats import RENDERERS
from services.render.feed_model import build_feed
from shared.articles import ArticleReader
from shared.artifacts import Artifact, encode
from shared.settings import Settings
from shared.store import ArtifactStore
from shared.targets import parse_target

log = logging.getLogger(__name__)

BuildOutcome = Literal["published", "superseded", "skipped"]


@dataclass(frozen=True)
class BuildContext:
    """Everything a build needs, made once per worker process."""

    settings: Settings
    reader: ArticleReader
    store: ArtifactStore
    coordinator: Coordinator


def build_target(target: str, ctx: BuildContext) -> BuildOutcome:
    """Rebuild `target` if an event is owed to it; safe to run twice for the same event.

    Raises:
        ValueError: `target` is not a known target name.
    """
    watermark = ctx.coordinator.begin(target)
    if watermark is None:
        return "skipped"
    artifacts = render_target(target, ctx.reader, ctx.settings)
    published = ctx.store.publish(target, artifacts, watermark)
    ctx.coordinator.finish(target, watermark)
    log.info("built %s at %s (%s)", target, watermark, "published" if published else "superseded")
    return "published" if published else "superseded"


def render_target(target: str, reader: ArticleReader, settings: Settings) -> list[Artifact]:
    """The artifacts of `target` as the current state of Redis says they should be."""
    feed_target = parse_target(target)
    articles = reader.visible(feed_target.name, settings.feed_size)
    feed = build_feed(feed_target, articles, reader.display_name(feed_target.name), settings)
    return [
        encode(feed_target.path(fmt), render(feed), settings.brotli_quality)
        for fmt, render in RENDERERS.items()
    ]
