"""Sitemap XML: `<url>` entries, urlsets (with the image and news extensions) and the index.

Entries are rendered once, when an article is written, and stored beside the target's index,
so building a partition is a join rather than a parse of every article in it. Text reaching
here has had XML-forbidden characters removed on ingest; everything is still escaped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from xml.sax.saxutils import escape

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
IMAGE_NS = "http://www.google.com/schemas/sitemap-image/1.1"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"

_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
URLSET_OPEN = f'{_DECLARATION}<urlset xmlns="{SITEMAP_NS}" xmlns:image="{IMAGE_NS}">\n'
NEWS_URLSET_OPEN = f'{_DECLARATION}<urlset xmlns="{SITEMAP_NS}" xmlns:news="{NEWS_NS}">\n'
URLSET_CLOSE = "</urlset>\n"
# What a partition file holds besides its entries; budgets of bytes leave room for it.
URLSET_OVERHEAD = len((URLSET_OPEN + URLSET_CLOSE).encode())
_CHINESE = {"zh-cn": "zh-cn", "zh-hans": "zh-cn", "zh-tw": "zh-tw", "zh-hant": "zh-tw"}
# The protocol's limit on a loc; a longer (percent-encoded) URL cannot be listed.
MAX_LOC = 2048


def url_entry(loc: str, lastmod: datetime, image: str | None = None) -> str:
    """One `<url>` of a monthly partition, with the image extension when there is an image."""
    parts = [f"<url><loc>{escape(loc)}</loc><lastmod>{lastmod.isoformat()}</lastmod>"]
    if image:
        parts.append(f"<image:image><image:loc>{escape(image)}</image:loc></image:image>")
    parts.append("</url>\n")
    return "".join(parts)


def urlset(entries: Iterable[str]) -> bytes:
    return "".join((URLSET_OPEN, *entries, URLSET_CLOSE)).encode()


def news_urlset(
    items: Iterable[tuple[str, str, str]], publication: str, language: str, fallback: str
) -> bytes:
    """A Google News sitemap of (loc, title, publication date) items.

    The schema requires at least one URL, so with no items it lists `fallback` (the site's
    home page) without news tags: still a valid file for crawlers that poll it.
    """
    name, lang = escape(publication), news_language(language)
    urls = [
        f"<url><loc>{escape(loc)}</loc><news:news><news:publication><news:name>{name}"
        f"</news:name><news:language>{lang}</news:language></news:publication>"
        f"<news:publication_date>{published}</news:publication_date>"
        f"<news:title>{escape(title)}</news:title></news:news></url>\n"
        for loc, title, published in items
    ] or [f"<url><loc>{escape(fallback)}</loc></url>\n"]
    return "".join((NEWS_URLSET_OPEN, *urls, URLSET_CLOSE)).encode()


def sitemap_index(files: Iterable[tuple[str, datetime]]) -> bytes:
    """A sitemap index listing (loc, lastmod) files."""
    entries = [
        f"<sitemap><loc>{escape(loc)}</loc><lastmod>{lastmod.isoformat()}</lastmod></sitemap>\n"
        for loc, lastmod in files
    ]
    return "".join(
        (_DECLARATION, f'<sitemapindex xmlns="{SITEMAP_NS}">\n', *entries, "</sitemapindex>\n")
    ).encode()


def news_language(language: str) -> str:
    """The publication language as Google News spells it: "tr", or zh-cn / zh-tw."""
    tag = language.lower()
    for prefix, code in _CHINESE.items():
        if tag == prefix or tag.startswith(prefix + "-"):
            return code
    return tag.split("-")[0]
