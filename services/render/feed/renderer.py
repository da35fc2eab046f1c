"""The feed kind's renderer: RSS, Atom, JSON Feed and the HTML page of a feed, and the index
page at `/`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from zoneinfo import ZoneInfo

from services.render.feed.formats import RENDERERS, gzipped
from services.render.feed.index_page import render_index
from services.render.feed.model import Feed, build_feed
from services.render.feed.page import render_html
from services.render.pipeline.rendering import Output, RenderContext, Renderer
from shared.article import Article
from shared.kinds.feed import INDEX, INDEX_PATH, FeedTarget, parse
from shared.state.article_reader import FeedView
from shared.state.dead_letters import DeadLetters
from shared.state.script_calls import ScriptCall
from shared.store.artifacts import encode

log = logging.getLogger(__name__)

TOMBSTONE_MS = 48 * 3600 * 1000  # how long a retraction stays in Atom feeds (RFC 6721)
# Renders of one build before it publishes what it read last, even if that changed again.
RENDER_ATTEMPTS = 3


class FeedRenderer(Renderer):
    """Builds a feed in every format from its visible articles, and the index page."""

    @cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    def render(self, target: str, ctx: RenderContext) -> Output:
        if target == INDEX:
            paths = ctx.store.paths("feeds/") + ctx.store.paths("sitemap")
            names = ctx.reader.display_names(ctx.settings.display_names)
            page = render_index(ctx.settings, names, paths)
            return Output(artifacts=[encode(INDEX_PATH, page, ctx.settings.brotli_quality)])
        feed_target = parse(target)
        size, names = ctx.settings.feed_size, ctx.settings.display_names
        # Render from what was read, then read again: an article taken down (or changed) while
        # this build ran must not be published by it, however slow the build was.
        for attempt in range(RENDER_ATTEMPTS):
            if attempt == 0 and ctx.first_reply is not None:  # read with the build's begin
                view = ctx.reader.feed_view_of(target, ctx.first_reply, names)
            else:
                view = ctx.reader.feed_view(target, size, TOMBSTONE_MS, names)
            output = self._render_feed(feed_target, view, ctx)
            if ctx.reader.unchanged(target, size, view.seen):
                break
        return output

    def first_read(self, target: str, ctx: RenderContext) -> ScriptCall | None:
        if target == INDEX:
            return None
        return ctx.reader.feed_read(target, ctx.settings.feed_size, TOMBSTONE_MS)

    def _render_feed(self, feed_target: FeedTarget, view: FeedView, ctx: RenderContext) -> Output:
        zone = self._zone
        retractions = [
            (aid, datetime.fromtimestamp(ms / 1000, zone)) for aid, ms in view.retractions
        ]
        # A new feed exists once it has something to show: a feed made for an embargoed
        # article alone would reveal its section, tag or author before its time.
        new = ctx.store.get(feed_target.path("rss")) is None
        if new and not view.articles and not retractions:
            return Output()

        def rendered(shown: list[Article]) -> dict[str, bytes]:
            feed = build_feed(feed_target, shown, view.name, ctx.settings, retractions)
            return {fmt: render(feed) for fmt, render in self.renderers.items()}

        try:
            bodies = rendered(view.articles)
        except Exception as exc:
            bodies = rendered(self._renderable(view.articles, rendered, ctx, exc))
        quality = ctx.settings.brotli_quality
        # When the oldest tombstone expires, the feed is built again without it.
        wake = view.retractions[-1][1] + TOMBSTONE_MS + 1 if view.retractions else None
        # A feed published for the first time joins the index page once it exists.
        return Output(
            artifacts=[
                encode(feed_target.path(fmt), body, quality, gzip=gzipped(body))
                for fmt, body in bodies.items()
            ],
            wake_at_ms=wake,
            then=(INDEX,) if new else (),
        )

    @cached_property
    def renderers(self) -> dict[str, Callable[[Feed], bytes]]:
        """Every format a feed is published in, by file extension."""
        return {**RENDERERS, "html": render_html}

    @staticmethod
    def _renderable(
        articles: list[Article],
        rendered: Callable[[list[Article]], object],
        ctx: RenderContext,
        error: Exception,
    ) -> list[Article]:
        """The articles that render on their own. One that does not is left out of the feed
        and kept as a dead letter, so it never holds back the others; if every one renders
        alone, the fault is not an article's, and it goes up to be retried or parked."""
        rendered([])  # if even an empty feed fails, the fault is no article's: it goes up
        fine, failed = [], False
        for article in articles:
            try:
                rendered([article])
            except Exception as exc:
                DeadLetters(ctx.redis).park_article(article.id, article.digest, exc)
                log.error("article %s cannot be rendered; left out of its feeds", article.id)
                failed = True
            else:
                fine.append(article)
        if not failed or not fine:  # none alone, or every one alone: no article's fault
            raise error
        return fine
