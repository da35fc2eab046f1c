"""Sitemap XML: urlsets (with the image and news extensions) and the sitemap index.

A partition's `<url>` entries were rendered when their articles were written
(shared/kinds/sitemap_entries.py); here they are joined. Text reaching here has had
XML-forbidden characters removed on ingest; everything is still escaped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from xml.sax.saxutils import escape

from shared.kinds.sitemap_entries import DECLARATION, SITEMAP_NS, URLSET_CLOSE, URLSET_OPEN

NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
NEWS_URLSET_OPEN = f'{DECLARATION}<urlset xmlns="{SITEMAP_NS}" xmlns:news="{NEWS_NS}">\n'
_CHINESE = {"zh-cn": "zh-cn", "zh-hans": "zh-cn", "zh-tw": "zh-tw", "zh-hant": "zh-tw"}


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
        (DECLARATION, f'<sitemapindex xmlns="{SITEMAP_NS}">\n', *entries, "</sitemapindex>\n")
    ).encode()


def news_language(language: str) -> str:
    """The publication language as Google News spells it: "tr", or zh-cn / zh-tw."""
    tag = language.lower()
    for prefix, code in _CHINESE.items():
        if tag == prefix or tag.startswith(prefix + "-"):
            return code
    return tag.split("-")[0]
