"""One feed model rendered as RSS, Atom and JSON Feed, read back by real consumers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import feedparser
import lxml.html
import pytest
from lxml import etree

from services.render.feed.formats import RENDERERS, render_atom, render_json, render_rss
from services.render.feed.model import FeedTarget, build_feed, empty_feed_date
from shared.article import Article
from shared.settings import Settings
from tests.render.feed.feed_articles import WITH_IMAGE, articles, dunya_articles
from tests.render.feed.feed_rules import feedparser_text

SETTINGS = Settings(feeds_base_url="https://feeds.example.com.tr/")
DUNYA = FeedTarget("section", "dunya")


@pytest.fixture
def dunya(corpus, seed_article) -> list[Article]:
    return dunya_articles(corpus, seed_article)


def test_rss_reads_back_with_every_field(dunya, seed_article):
    feed = build_feed(DUNYA, dunya, "Dünya", SETTINGS)
    parsed = feedparser.parse(render_rss(feed))
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.feed.title == "Haber — Dünya"
    assert parsed.feed.language == "tr"
    assert parsed.feed.link == "https://haber.example.com.tr/"
    self_links = [link.href for link in parsed.feed.links if link.rel == "self"]
    assert self_links == ["https://feeds.example.com.tr/feeds/sections/dunya.rss"]
    entry = parsed.entries[0]
    assert entry.title == "Rusya'dan flaş çıkış: Şansımız var"
    assert entry.link == seed_article["url"]
    assert entry.published == "Sun, 18 Jan 2026 11:42:00 +0300"
    assert entry.id == f"tag:haber.example.com.tr,2026:article:{seed_article['id']}"
    assert entry.guidislink is False
    assert entry.summary == seed_article["summary"]
    assert "<blockquote>" in entry.content[0].value
    assert entry.author == "Dış Haberler Servisi"
    assert [t.term for t in entry.tags] == ["Dünya", "Rusya", "Sergey Lavrov", "NATO", "AGİT"]
    assert entry.comments == seed_article["comments_url"]
    assert parsed.feed.updated == "Sun, 18 Jan 2026 11:42:00 +0300"  # lastBuildDate


def test_image_becomes_enclosure_and_media_content(dunya):
    feed = build_feed(DUNYA, dunya, "Dünya", SETTINGS)
    for render in (render_rss, render_atom):
        entry = next(e for e in feedparser.parse(render(feed)).entries if WITH_IMAGE in e.id)
        enclosures = [link for link in entry.links if link.rel == "enclosure"]
        assert enclosures[0].href == "https://haber.example.com.tr/img/a.jpg"
        assert enclosures[0].type == "image/jpeg"
        assert entry.media_content[0]["url"] == "https://haber.example.com.tr/img/a.jpg"


def test_atom_reads_back_with_offsets_and_authors(dunya, seed_article):
    feed = build_feed(DUNYA, dunya, "Dünya", SETTINGS)
    parsed = feedparser.parse(render_atom(feed))
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "atom10"
    entry = parsed.entries[0]
    assert entry.title == seed_article["title"]
    assert entry.published == "2026-01-18T11:42:00+03:00"
    assert entry.updated == "2026-01-18T11:42:00+03:00"
    assert entry.link == seed_article["url"]
    replies = [link for link in entry.links if link.rel == "replies"]
    assert replies[0].href == seed_article["comments_url"]
    second = next(e for e in parsed.entries if WITH_IMAGE in e.id)
    assert second.authors[0]["name"] == "Ayşe Yıldırım"
    assert second.authors[0]["href"] == "https://haber.example.com.tr/ayse"
    assert parsed.feed.id == "tag:haber.example.com.tr,2026:feed:section:dunya"


def test_json_feed_1_1(dunya, seed_article):
    feed = build_feed(DUNYA, dunya, "Dünya", SETTINGS)
    document = json.loads(render_json(feed))
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["feed_url"] == "https://feeds.example.com.tr/feeds/sections/dunya.json"
    assert document["home_page_url"] == "https://haber.example.com.tr/"
    item = document["items"][0]
    assert item["id"] == f"tag:haber.example.com.tr,2026:article:{seed_article['id']}"
    assert item["url"] == seed_article["url"]
    assert item["title"] == "Rusya'dan flaş çıkış: Şansımız var"
    assert item["date_published"] == "2026-01-18T11:42:00+03:00"
    assert item["authors"] == [{"name": "Dış Haberler Servisi"}]
    assert item["tags"][0] == "Dünya"
    imaged = next(i for i in document["items"] if WITH_IMAGE in i["id"])
    assert imaged["image"] == "https://haber.example.com.tr/img/a.jpg"
    assert "content_html" not in imaged  # no body: the summary stands in as text
    assert imaged["content_text"] == imaged["summary"]
    assert [i["id"] for i in document["items"]] == [
        i.guid for i in feed.items
    ]  # same order as the model


def test_same_state_gives_same_bytes(dunya):
    first = {
        fmt: render(build_feed(DUNYA, dunya, "Dünya", SETTINGS))
        for fmt, render in RENDERERS.items()
    }
    again = {
        fmt: render(build_feed(DUNYA, dunya, "Dünya", SETTINGS))
        for fmt, render in RENDERERS.items()
    }
    assert first == again


def test_empty_feed_is_valid_and_dated_from_data():
    feed = build_feed(FeedTarget("tag", "yok"), [], None, SETTINGS)
    assert feed.updated == empty_feed_date(SETTINGS) == datetime(2026, 1, 1, tzinfo=UTC)
    for fmt in ("rss", "atom"):
        parsed = feedparser.parse(RENDERERS[fmt](feed))
        assert not parsed.bozo
        assert parsed.entries == []
    assert json.loads(render_json(feed))["items"] == []


def test_hostile_text_never_breaks_xml(seed_article):
    hostile = {
        **seed_article,
        "title": "Kötü\x00\x08 <script>alert('x')</script> ]]> & \ud800 \U0001f600 \u202e",
        "summary": "Özet \x0b\x0c <b>kalın</b> &amp; ]]>",
        "body_html": "<p>]]><script>x</script><img src=x onerror=alert(1)>\x01</p>",
        "section": "Dünya\x1f",
        "tags": ["<Etiket>", "A&B"],
        "authors": [{"name": "Yazar \x07<i>"}],
    }
    feed = build_feed(DUNYA, articles([hostile]), "Dünya", SETTINGS)
    for fmt in ("rss", "atom"):
        body = RENDERERS[fmt](feed)
        etree.fromstring(body)  # raises on anything XML 1.0 forbids
        parsed = feedparser.parse(body)
        assert not parsed.bozo, parsed.bozo_exception
        # Plain text, escaped, not dropped.
        assert "<script>" in feedparser_text(parsed.entries[0].title_detail)
        assert "onerror" not in parsed.entries[0].content[0].value
    document = json.loads(render_json(feed))
    assert "script" not in document["items"][0]["content_html"]


def test_feed_date_is_the_newest_update_not_now(dunya):
    feed = build_feed(DUNYA, dunya, "Dünya", SETTINGS)
    assert feed.updated == max(a.modified for a in dunya)
    assert feed.updated < datetime.now(UTC)


def test_rss_description_is_the_summary_as_text_not_markup(seed_article):
    [article] = articles([{**seed_article, "summary": "Kalın <b>değil</b> & düz"}])
    feed = build_feed(DUNYA, [article], "Dünya", SETTINGS)
    item = etree.fromstring(render_rss(feed)).find("channel/item")
    # Readers take RSS descriptions as HTML: the text must survive that reading.
    assert item.findtext("description") == "Kalın &lt;b&gt;değil&lt;/b&gt; &amp; düz"
    summary = feedparser.parse(render_rss(feed)).entries[0].summary
    assert lxml.html.fromstring(summary).text_content() == "Kalın <b>değil</b> & düz"
    atom = etree.fromstring(render_atom(feed))
    assert atom.findtext("{*}entry/{*}summary") == "Kalın <b>değil</b> & düz"  # type="text"


def test_an_entry_with_no_summary_or_body_summarizes_with_its_title(seed_article):
    [article] = articles([{**seed_article, "summary": "", "body_html": ""}])
    atom = etree.fromstring(render_atom(build_feed(DUNYA, [article], "Dünya", SETTINGS)))
    assert atom.findtext("{*}entry/{*}summary") == seed_article["title"]


def test_rss_dates_are_in_the_site_time_zone(seed_article):
    kathmandu = "2026-01-18T14:27:00+05:45"  # 11:42 in Istanbul
    [article] = articles([{**seed_article, "published_at": kathmandu, "updated_at": kathmandu}])
    feed = build_feed(DUNYA, [article], "Dünya", SETTINGS)
    item = etree.fromstring(render_rss(feed)).find("channel/item")
    assert item.findtext("pubDate") == "Sun, 18 Jan 2026 11:42:00 +0300"
    atom = etree.fromstring(render_atom(feed))
    assert atom.findtext("{*}entry/{*}published") == kathmandu  # Atom keeps its own offset


def test_the_same_instant_with_another_offset_renders_its_own_offset(seed_article):
    for moment in ("2026-01-18T11:42:00+03:00", "2026-01-18T08:42:00+00:00"):
        [article] = articles([{**seed_article, "published_at": moment, "updated_at": moment}])
        atom = etree.fromstring(render_atom(build_feed(DUNYA, [article], "Dünya", SETTINGS)))
        assert atom.findtext("{*}entry/{*}published") == moment
