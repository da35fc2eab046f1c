"""The sitemap kind at write time: monthly partitions, the Google News sitemap, the index.

`sitemap:<yyyy-mm>` holds the articles published that month (in the site's time zone), split
into stable parts past the protocol's limits; `sitemap:news` the last 48 hours, at most 1,000;
`sitemap:index` every partition file that exists. A partition's build reads only its own
index, so an article costs the same at a million archived articles as at a hundred.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from zoneinfo import ZoneInfo

from shared.article import Article
from shared.kinds.base import ROUTINE, URGENT, Kind
from shared.kinds.entries import Shard, TargetEntry, fingerprint
from shared.kinds.sitemap_entries import MAX_LOC, URLSET_OVERHEAD, url_entry
from shared.state.article_reader import ArticleReader

INDEX, NEWS = "sitemap:index", "sitemap:news"
INDEX_PATH, NEWS_PATH = "sitemap.xml", "sitemaps/news.xml"
NEWS_WINDOW_MS = 48 * 3600 * 1000
NEWS_MAX_URLS = 1000
MONTH = re.compile(r"^sitemap:(\d{4})-(0[1-9]|1[0-2])$")


def part_path(target: str, part: int) -> str:
    """`sitemaps/2026-01.xml` for the first part of a month, `sitemaps/2026-01-2.xml` after."""
    month = target.removeprefix("sitemap:")
    return f"sitemaps/{month}.xml" if part == 1 else f"sitemaps/{month}-{part}.xml"


class SitemapKind(Kind):
    name = "sitemap"
    queue = "sitemaps"
    renderer = "services.render.sitemap.renderer:SitemapRenderer"
    has_urgent = True

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    @cached_property
    def _shard(self) -> Shard:
        room = self.settings.sitemap_max_bytes - URLSET_OVERHEAD
        return Shard(self.settings.sitemap_max_urls, room)

    def least_window_ms(self) -> int:
        # Crawlers read sitemaps every few minutes; more builds would only take a worker
        # from the feeds that readers poll.
        return self.settings.sitemap_window_ms

    def validate(self, target: str) -> None:
        if target not in (INDEX, NEWS) and not MONTH.match(target):
            raise ValueError(f"unknown target {target!r}")

    def entries(self, article: Article) -> list[TargetEntry]:
        loc = str(article.url)
        if len(loc) > MAX_LOC:
            return []  # the protocol cannot list it
        published = int(article.published_at.timestamp() * 1000)
        image = str(article.image.url) if article.image else None
        entry = url_entry(loc, article.modified, image)
        month = article.published_at.astimezone(self.zone).strftime("%Y-%m")
        entries = [
            TargetEntry(f"sitemap:{month}", fingerprint(entry), published, entry, shard=self._shard)
        ]
        # Only recent articles enter the news index (archives would only be dropped again).
        if published >= self.clock() * 1000 - NEWS_WINDOW_MS:
            news = [loc, article.title, article.published_at.isoformat(), published]
            payload = json.dumps(news, ensure_ascii=False)
            entries.append(TargetEntry(NEWS, fingerprint(payload), published, payload))
        return entries

    def paths(self, target: str) -> list[str]:
        self.validate(target)
        if target == INDEX:
            return [INDEX_PATH]
        return [NEWS_PATH] if target == NEWS else [part_path(target, 1)]

    def priority(self, target: str) -> int:
        return URGENT if target == NEWS else ROUTINE

    def known_targets(self, reader: ArticleReader) -> list[str]:
        months = [t for t in reader.targets(f"{self.name}:") if MONTH.match(t)]
        # The index last: it lists what the others publish.
        return [NEWS, *months, INDEX]
