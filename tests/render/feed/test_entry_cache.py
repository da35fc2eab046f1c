"""A warm feed build against a cold one: what the entry cache (`formats.ENTRY_CACHE`)
holds must never show in the bytes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import feedparser
import pytest
from lxml import etree

from services.render.feed import formats
from services.render.feed.formats import ENTRY_CACHE, RENDERERS
from services.render.feed.model import Feed, FeedTarget, build_feed
from shared.article import Article
from shared.settings import Settings
from tests.render.feed.feed_articles import IMAGE_URL, articles
from tests.render.feed.feed_rules import feedparser_text

SETTINGS = Settings(feeds_base_url="https://feeds.example.com.tr/")
KATHMANDU_SETTINGS = Settings(
    feeds_base_url="https://feeds.example.com.tr/", timezone="Asia/Kathmandu"
)
DUNYA = FeedTarget("section", "dunya")
KATHMANDU = "2026-01-18T14:27:00+05:45"  # 11:42 in Istanbul
MARKUP_TITLE = '<b>Kalın</b> & &amp; <script>alert(1)</script> ]]> "tırnak"'
RETRACTED = [("geri-cekilen-haber", datetime(2026, 1, 18, 9, 30, tzinfo=UTC))]
XML_FORMATS = ("rss", "atom")


@pytest.fixture(autouse=True)
def empty_caches() -> Iterator[None]:
    ENTRY_CACHE.clear()
    yield
    ENTRY_CACHE.clear()


def variant(seed: dict[str, Any], n: int, **fields: Any) -> dict[str, Any]:
    """The seed article as another story: its own id, URL and time."""
    return {
        **seed,
        "id": f"haber-{n}",
        "url": f"https://haber.example.com.tr/dunya/haber-{n}",
        "comments_url": f"https://haber.example.com.tr/dunya/haber-{n}#yorumlar",
        "published_at": f"2026-01-18T{10 + n // 60:02d}:{n % 60:02d}:00+03:00",
        "updated_at": f"2026-01-18T{10 + n // 60:02d}:{n % 60:02d}:00+03:00",
        **fields,
    }


def every_kind(seed: dict[str, Any]) -> list[Article]:
    """One of each item the renderers treat apart."""
    return articles(
        [
            seed,
            variant(seed, 1, title=MARKUP_TITLE, summary="Özet <i>eğik</i> &lt; & düz"),
            variant(seed, 2, summary="", body_html=""),  # neither body nor summary
            variant(seed, 3, body_html=""),  # a summary only
            variant(seed, 4, summary=""),  # a body only
            variant(
                seed,
                5,
                authors=[
                    {"name": "Ayşe Yıldırım", "url": "https://haber.example.com.tr/ayse"},
                    {"name": "Işıl Çağlar"},
                    {"name": "Dış Haberler <Servisi> & Co"},
                ],
            ),
            variant(seed, 6, published_at=KATHMANDU, updated_at=KATHMANDU),
            variant(seed, 7, image={"url": IMAGE_URL, "alt": "Görsel"}, comments_url=None),
        ]
    )


def cold(fmt: str, feed: Feed) -> bytes:
    ENTRY_CACHE.clear()
    return RENDERERS[fmt](feed)


def feedgen_document(feed: Feed, fmt: str) -> bytes:
    """The feed as feedgen writes it with every entry added to it: no cache, no splicing."""
    generator = formats._generator(feed, fmt)
    for item in feed.items:
        entry = formats._rendered_entry(item, fmt, feed.timezone)
        generator.add_entry(entry, order="append")
    return generator.rss_str(pretty=False) if fmt == "rss" else generator.atom_str(pretty=False)


def no_rendering(*args: object) -> None:
    raise AssertionError("an entry was rendered again: the cache was not used")


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_a_warm_render_is_byte_identical_to_a_cold_one(fmt, seed_article, monkeypatch):
    feed = build_feed(DUNYA, every_kind(seed_article), "Dünya", SETTINGS, RETRACTED)
    first = cold(fmt, feed)
    assert ENTRY_CACHE.entries == len(feed.items) == 8
    assert first == feedgen_document(feed, fmt)

    # The same state built again (new objects, equal values): every entry from the cache.
    monkeypatch.setattr(formats, "_rendered_entry", no_rendering)
    again = build_feed(DUNYA, every_kind(seed_article), "Dünya", SETTINGS, RETRACTED)
    assert RENDERERS[fmt](again) == first

    # What the feed holds, so the comparison covers it.
    root = etree.fromstring(first)
    parsed = feedparser.parse(first)
    assert not parsed.bozo, parsed.bozo_exception
    assert len(parsed.entries) == 8
    markup = next(e for e in parsed.entries if e.id.endswith("haber-1"))
    assert feedparser_text(markup.title_detail) == MARKUP_TITLE
    assert IMAGE_URL.encode() in first
    assert b"Ay\xc5\x9fe Y\xc4\xb1ld\xc4\xb1r\xc4\xb1m" in first and "Işıl Çağlar".encode() in first
    if fmt == "atom":
        assert root.find("{http://purl.org/atompub/tombstones/1.0}deleted-entry") is not None
        assert KATHMANDU.encode() in first
    else:
        assert b"Sun, 18 Jan 2026 11:42:00 +0300" in first  # the +05:45 item, in Istanbul time


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_a_warm_render_after_a_publish_is_byte_identical_to_a_cold_one(fmt, seed_article):
    stories = every_kind(seed_article)
    older = build_feed(DUNYA, stories, "Dünya", SETTINGS, RETRACTED)
    RENDERERS[fmt](older)  # the previous build fills the cache
    newest = articles([variant(seed_article, 30, title="Son dakika")])
    feed = build_feed(DUNYA, newest + stories[:-1], "Dünya", SETTINGS)
    warm = RENDERERS[fmt](feed)
    assert warm == cold(fmt, feed) == feedgen_document(feed, fmt)


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_an_edited_article_renders_its_new_title_not_the_cached_entry(fmt, seed_article):
    before = variant(seed_article, 1, title="Eski başlık")
    # Same guid and the same dates: only the title tells the edit apart.
    after = {**before, "title": "Yeni başlık"}
    RENDERERS[fmt](build_feed(DUNYA, articles([before]), "Dünya", SETTINGS))
    feed = build_feed(DUNYA, articles([after]), "Dünya", SETTINGS)
    body = RENDERERS[fmt](feed)
    assert "Yeni başlık".encode() in body
    assert "Eski başlık".encode() not in body
    assert feedparser.parse(body).entries[0].title == "Yeni başlık"
    assert body == cold(fmt, feed)


def test_the_same_instant_with_another_offset_is_not_the_cached_entry(seed_article):
    # Equal datetimes (one instant), written differently: the cached entry must not stand in.
    for moment in ("2026-01-18T11:42:00+03:00", "2026-01-18T08:42:00+00:00", KATHMANDU):
        story = articles([variant(seed_article, 1, published_at=moment, updated_at=moment)])
        feed = build_feed(DUNYA, story, "Dünya", SETTINGS)
        atom = RENDERERS["atom"](feed)
        assert etree.fromstring(atom).findtext("{*}entry/{*}published") == moment
        assert atom == cold("atom", feed)


def test_the_same_item_in_feeds_of_two_time_zones_renders_each_in_its_own(seed_article):
    story = articles([variant(seed_article, 6, published_at=KATHMANDU, updated_at=KATHMANDU)])
    istanbul = build_feed(DUNYA, story, "Dünya", SETTINGS)
    kathmandu = build_feed(DUNYA, story, "Dünya", KATHMANDU_SETTINGS)
    pub_dates = {}
    for _ in range(2):  # the second round with both in the cache
        for name, feed in (("istanbul", istanbul), ("kathmandu", kathmandu)):
            body = RENDERERS["rss"](feed)
            pub_dates[name] = etree.fromstring(body).findtext("channel/item/pubDate")
            assert body == feedgen_document(feed, "rss")
            atom = etree.fromstring(RENDERERS["atom"](feed))
            assert atom.findtext("{*}entry/{*}published") == KATHMANDU  # its own offset
        assert pub_dates == {
            "istanbul": "Sun, 18 Jan 2026 11:42:00 +0300",
            "kathmandu": "Sun, 18 Jan 2026 14:27:00 +0545",
        }


def test_the_html_page_warm_is_byte_identical_to_cold_and_to_uncached_items(seed_article):
    from services.render.feed import page

    feed = build_feed(DUNYA, every_kind(seed_article), "Dünya", SETTINGS, RETRACTED)
    ENTRY_CACHE.clear()
    first = page.render_html(feed)
    uncached = "".join(page._item(item, feed) for item in feed.items).encode()
    assert uncached in first  # the cached items are the very markup `_item` makes
    again = build_feed(DUNYA, every_kind(seed_article), "Dünya", SETTINGS, RETRACTED)
    assert page.render_html(again) == first
    # The same items in another zone: each page shows its own times.
    kathmandu = build_feed(DUNYA, every_kind(seed_article), "Dünya", KATHMANDU_SETTINGS)
    own = "".join(page._item(item, kathmandu) for item in kathmandu.items).encode()
    assert own != uncached and own in page.render_html(kathmandu)
