"""The sitemap kind: monthly partitions, the Google News sitemap, and the sitemap index.

`sitemap:<yyyy-mm>` holds the articles published that month (in the site's time zone), split
into stable parts past the protocol's limits; `sitemap:news` the last 48 hours, at most 1,000;
`sitemap:index` every partition file that exists. A partition's build reads only its own
index, so an article costs the same at a million archived articles as at a hundred.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import cached_property
from zoneinfo import ZoneInfo

from services.render.feed.kind import INDEX as SITE_INDEX_PAGE
from services.render.kinds.base import ROUTINE, URGENT, Kind, Output, RenderContext
from services.render.sitemap import urlsets
from shared.article import Article
from shared.kinds.entries import Shard, TargetEntry, fingerprint
from shared.state import redis_keys
from shared.state.article_reader import ArticleReader
from shared.state.index_upkeep import drop_older
from shared.store.artifacts import encode

INDEX, NEWS = "sitemap:index", "sitemap:news"
INDEX_PATH, NEWS_PATH = "sitemap.xml", "sitemaps/news.xml"
NEWS_WINDOW_MS = 48 * 3600 * 1000
NEWS_MAX_URLS = 1000
RENDER_ATTEMPTS = 3  # reads of one build before it publishes what it read last
_MONTH = re.compile(r"^sitemap:(\d{4})-(0[1-9]|1[0-2])$")


def part_path(target: str, part: int) -> str:
    """`sitemaps/2026-01.xml` for the first part of a month, `sitemaps/2026-01-2.xml` after."""
    month = target.removeprefix("sitemap:")
    return f"sitemaps/{month}.xml" if part == 1 else f"sitemaps/{month}-{part}.xml"


class SitemapKind(Kind):
    name = "sitemap"
    queue = "sitemaps"

    @cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    @cached_property
    def _shard(self) -> Shard:
        room = self.settings.sitemap_max_bytes - urlsets.URLSET_OVERHEAD
        return Shard(self.settings.sitemap_max_urls, room)

    def validate(self, target: str) -> None:
        if target not in (INDEX, NEWS) and not _MONTH.match(target):
            raise ValueError(f"unknown target {target!r}")

    def entries(self, article: Article) -> list[TargetEntry]:
        loc = str(article.url)
        if len(loc) > urlsets.MAX_LOC:
            return []  # the protocol cannot list it
        published = int(article.published_at.timestamp() * 1000)
        image = str(article.image.url) if article.image else None
        entry = urlsets.url_entry(loc, article.modified, image)
        month = article.published_at.astimezone(self._zone).strftime("%Y-%m")
        entries = [
            TargetEntry(f"sitemap:{month}", fingerprint(entry), published, entry, shard=self._shard)
        ]
        # Only recent articles enter the news index (archives would only be dropped again).
        if published >= self.clock() * 1000 - NEWS_WINDOW_MS:
            news = [loc, article.title, article.published_at.isoformat(), published]
            payload = json.dumps(news, ensure_ascii=False)
            entries.append(TargetEntry(NEWS, fingerprint(payload), published, payload))
        return entries

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
            (ctx.settings.sitemap_base + listed.path, _local(listed.modified, self._zone))
            for listed in ctx.store.listing("sitemaps/")
            if listed.path.endswith(".xml")
        ]
        # The site's index page lists the sitemaps too: it follows their index.
        if not files:
            return Output(remove=[INDEX_PATH], then=(SITE_INDEX_PAGE,))
        body = urlsets.sitemap_index(files)
        artifact = encode(INDEX_PATH, body, ctx.settings.brotli_quality)
        return Output(artifacts=[artifact], then=(SITE_INDEX_PAGE,))

    def paths(self, target: str) -> list[str]:
        self.validate(target)
        if target == INDEX:
            return [INDEX_PATH]
        return [NEWS_PATH] if target == NEWS else [part_path(target, 1)]

    def priority(self, target: str) -> int:
        return URGENT if target == NEWS else ROUTINE

    def known_targets(self, reader: ArticleReader) -> list[str]:
        months = [t for t in reader.targets(f"{self.name}:") if _MONTH.match(t)]
        # The index last: it lists what the others publish.
        return [NEWS, *months, INDEX]


def _still_indexed(ctx: RenderContext, index: str, rows: list[tuple[str, str]]) -> bool:
    """Whether every entry read is still in the index (none was taken down since)."""
    if not rows:
        return True
    return None not in ctx.redis.zmscore(index, [article_id for article_id, _ in rows])


def _local(timestamp: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(int(timestamp), UTC).astimezone(zone)
