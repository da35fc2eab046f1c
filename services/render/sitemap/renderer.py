"""The sitemap kind's renderer: monthly partitions, the Google News sitemap, the index."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from services.render.pipeline.rendering import Output, RenderContext, Renderer
from services.render.sitemap import urlsets
from shared.kinds.feed import INDEX as SITE_INDEX_PAGE
from shared.kinds.sitemap import (
    INDEX,
    INDEX_PATH,
    NEWS,
    NEWS_MAX_URLS,
    NEWS_PATH,
    NEWS_WINDOW_MS,
    SitemapKind,
    part_path,
)
from shared.state import redis_keys
from shared.state.index_upkeep import drop_older
from shared.store.artifacts import encode

RENDER_ATTEMPTS = 3  # reads of one build before it publishes what it read last
_LOC = re.compile(rb"<loc>(.*?)</loc>")  # the files a sitemap index lists


class SitemapRenderer(Renderer):
    """Builds a month's partition files, the news sitemap or the index from current state."""

    kind: SitemapKind

    def render(self, target: str, ctx: RenderContext) -> Output:
        if target == INDEX:
            return self._render_index(ctx)
        if target == NEWS:
            return self._render_news(ctx)
        return self._render_month(target, ctx)

    def _render_month(self, target: str, ctx: RenderContext) -> Output:
        # Read, then check it is all still there: a URL taken down while this build read (the
        # slow part of a large month) must not be published by it.
        for _ in range(RENDER_ATTEMPTS):
            parts = {part: ctx.reader.payloads(target, part) for part in ctx.reader.parts(target)}
            if all(
                _still_indexed(ctx, redis_keys.index(target, p), rows) for p, rows in parts.items()
            ):
                break
        artifacts, emptied = [], []
        for part, rows in parts.items():
            if rows:
                body = urlsets.urlset(entry for _, entry in rows)
                artifacts.append(encode(part_path(target, part), body, ctx.settings.brotli_quality))
            else:
                emptied.append(part_path(target, part))
        return Output(artifacts=artifacts, remove=emptied, then=(INDEX,))

    def _render_news(self, ctx: RenderContext) -> Output:
        since = ctx.reader.now_ms() - NEWS_WINDOW_MS
        drop_older(ctx.redis, redis_keys.index(NEWS), since, redis_keys.payloads(NEWS))
        for _ in range(RENDER_ATTEMPTS):
            rows = ctx.reader.payloads(NEWS, since_ms=since, limit=NEWS_MAX_URLS, newest_first=True)
            if _still_indexed(ctx, redis_keys.index(NEWS), rows):
                break
        items = [json.loads(payload) for _, payload in rows]
        body = urlsets.news_urlset(
            ((loc, title, date) for loc, title, date, _ in items),
            ctx.settings.site_name,
            ctx.settings.language,
            fallback=str(ctx.settings.site_url),
        )
        # The oldest item leaves the window 48 hours after it was published: wake then.
        wake = items[-1][3] + NEWS_WINDOW_MS + 1 if items else None
        artifact = encode(NEWS_PATH, body, ctx.settings.brotli_quality)
        return Output(artifacts=[artifact], wake_at_ms=wake, then=(INDEX,))

    def _render_index(self, ctx: RenderContext) -> Output:
        # What the store holds right now, so the index never names a missing file.
        files = [
            (ctx.settings.sitemap_base + listed.path, _local(listed.modified, self.kind.zone))
            for listed in ctx.store.listing("sitemaps/")
            if listed.path.endswith(".xml")
        ]
        # The site's index page lists the sitemap files too (not their dates): it follows
        # their index when the files listed change, not at every lastmod.
        if not files:
            return Output(remove=[INDEX_PATH], then=(SITE_INDEX_PAGE,))
        body = urlsets.sitemap_index(files)
        artifact = encode(INDEX_PATH, body, ctx.settings.brotli_quality)
        stored = ctx.store.get(INDEX_PATH)
        same_files = stored is not None and _LOC.findall(stored.body) == _LOC.findall(body)
        return Output(artifacts=[artifact], then=() if same_files else (SITE_INDEX_PAGE,))


def _still_indexed(ctx: RenderContext, index: str, rows: list[tuple[str, str]]) -> bool:
    """Whether every entry read is still in the index (none was taken down since)."""
    if not rows:
        return True
    return None not in ctx.redis.zmscore(index, [article_id for article_id, _ in rows])


def _local(timestamp: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(int(timestamp), UTC).astimezone(zone)
