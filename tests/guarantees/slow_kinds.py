"""The built-in feed, sitemap and card kinds, with builds made slow on demand, for races.

Loaded through NEWSWIRE_EXTRA_KINDS, each replaces the built-in kind of its name in every
process. Setting `test:slow:<target>` to a number of seconds makes the next build of that
target pause for that long right after it first reads state, and mark `test:read:<target>`
when it does: a test then knows a build holding the old state is in flight, and races it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import redis

from services.render.card.renderer import CardRenderer
from services.render.feed.renderer import FeedRenderer
from services.render.pipeline.rendering import Output, RenderContext
from services.render.sitemap.renderer import SitemapRenderer
from shared.kinds.card import CardKind
from shared.kinds.feed import FeedKind
from shared.kinds.sitemap import SitemapKind
from shared.state.article_reader import ArticleReader

ARM = "test:slow:{target}"
READ = "test:read:{target}"
# What a build reads state with first (a feed's and a card's first read come with its begin:
# `feed_view_of`, `article_of`).
_READS = ("feed_view", "feed_view_of", "payloads", "article", "article_of")


class _PausingReader:
    """An ArticleReader that pauses once, after the first read of state."""

    def __init__(self, reader: ArticleReader, db: redis.Redis, target: str, seconds: float):
        self._reader, self._db, self._target, self._seconds = reader, db, target, seconds
        self._paused = False

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._reader, name)
        if name not in _READS:
            return found

        def read(*args: Any, **kwargs: Any) -> Any:
            result = found(*args, **kwargs)
            if not self._paused:
                self._paused = True
                self._db.set(READ.format(target=self._target), "1")
                time.sleep(self._seconds)
            return result

        return read


def _armed(target: str, ctx: RenderContext) -> RenderContext:
    seconds = ctx.redis.getdel(ARM.format(target=target))
    if seconds is None:
        return ctx
    reader = _PausingReader(ctx.reader, ctx.redis, target, float(seconds))
    return replace(ctx, reader=reader)  # type: ignore[arg-type]


class SlowFeedRenderer(FeedRenderer):
    def render(self, target: str, ctx: RenderContext) -> Output:
        return super().render(target, _armed(target, ctx))


class SlowSitemapRenderer(SitemapRenderer):
    def render(self, target: str, ctx: RenderContext) -> Output:
        return super().render(target, _armed(target, ctx))


class SlowCardRenderer(CardRenderer):
    def render(self, target: str, ctx: RenderContext) -> Output:
        return super().render(target, _armed(target, ctx))


class SlowFeedKind(FeedKind):
    renderer = f"{__name__}:SlowFeedRenderer"


class SlowSitemapKind(SitemapKind):
    renderer = f"{__name__}:SlowSitemapRenderer"


class SlowCardKind(CardKind):
    renderer = f"{__name__}:SlowCardRenderer"


SPECS = [
    f"tests.guarantees.slow_kinds:{kind.__name__}"
    for kind in (SlowFeedKind, SlowSitemapKind, SlowCardKind)
]
