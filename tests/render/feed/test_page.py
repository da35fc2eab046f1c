"""A feed's HTML page: items readable in Turkish, subscribe URLs without JavaScript, escaped."""

from __future__ import annotations

from dataclasses import replace
from html.parser import HTMLParser

import lxml.html
import pytest

from services.render.feed.model import FeedTarget, build_feed
from services.render.feed.page import EMPTY_MESSAGE, render_html
from shared.article import Article
from shared.settings import Settings
from tests.render.feed.feed_articles import IMAGE_URL, articles, dunya_articles

SETTINGS = Settings(feeds_base_url="https://feeds.example.com.tr/")
DUNYA = FeedTarget("section", "dunya")
BASE = "https://feeds.example.com.tr/feeds/sections/dunya"
VOID = {"meta", "link", "input", "img", "br", "hr", "source", "wbr", "area", "col", "base"}


class _Balance(HTMLParser):
    """Collects what makes HTML5 markup invalid that lxml's forgiving parser would repair."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.label_for: list[str] = []
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = self.doctype or decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.ids += [found["id"] or ""] if "id" in found else []
        self.label_for += [found["for"] or ""] if tag == "label" else []
        if tag == "img" and "alt" not in found:
            self.errors.append("img without alt")
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.errors.append(f"unbalanced </{tag}>")


def assert_well_formed(page: bytes) -> None:
    """Doctype first, every element closed in order, unique ids, labels tied to fields."""
    text = page.decode("utf-8")
    assert text.startswith("<!DOCTYPE html>")
    checker = _Balance()
    checker.feed(text)
    checker.close()
    assert checker.doctype == "DOCTYPE html"
    assert checker.errors == [] and checker.open == []
    assert len(checker.ids) == len(set(checker.ids))
    assert set(checker.label_for) <= set(checker.ids)


@pytest.fixture
def dunya(corpus, seed_article) -> list[Article]:
    return dunya_articles(corpus, seed_article)


def page_of(items: list[Article], label: str | None = "Dünya") -> lxml.html.HtmlElement:
    return lxml.html.fromstring(render_html(build_feed(DUNYA, items, label, SETTINGS)))


def item_rows(page: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    return page.xpath("//li[@class='item']")


def test_page_lists_every_item_with_link_and_turkish_date(dunya) -> None:
    page = page_of(dunya)
    assert page.get("lang") == "tr"
    assert page.findtext(".//title") == "Haber — Dünya"
    assert page.findtext(".//h1") == "Haber — Dünya"
    rows = item_rows(page)
    assert [row.findtext(".//h3/a") for row in rows] == [a.title for a in dunya]
    assert [row.find(".//h3/a").get("href") for row in rows] == [str(a.url) for a in dunya]
    times = [row.find(".//time") for row in rows]
    assert [t.text for t in times] == [
        "18 Ocak 2026, 11:42",
        "18 Ocak 2026, 11:05",
        "18 Ocak 2026, 10:30",
        "18 Ocak 2026, 10:05",
    ]
    assert times[0].get("datetime") == "2026-01-18T11:42:00+03:00"


def test_dates_are_shown_in_the_feeds_time_zone(seed_article) -> None:
    utc = {**seed_article, "published_at": "2026-01-31T22:30:00Z", "updated_at": None}
    row = item_rows(page_of(articles([utc])))[0]
    assert row.findtext(".//time") == "1 Şubat 2026, 01:30"  # Istanbul is UTC+3


def test_item_shows_authors_summary_categories_and_image(dunya, seed_article) -> None:
    rows = item_rows(page_of(dunya))
    first = rows[0]
    assert "Dış Haberler Servisi" in first.find(".//p[@class='meta']").text_content()
    assert first.findtext(".//p[@class='summary']") == seed_article["summary"]
    chips = first.xpath(".//ul[@class='cats']//a")
    assert [a.text for a in chips] == ["Dünya", "Rusya", "Sergey Lavrov", "NATO", "AGİT"]
    assert chips[0].get("href") == f"{BASE}.html"
    assert chips[-1].get("href") == "https://feeds.example.com.tr/feeds/tags/agit.html"
    # No byline: the site that stands in as the feeds' author is not shown as one.
    assert rows[1].find(".//p[@class='meta']").text_content() == "18 Ocak 2026, 11:05"
    imaged = rows[-1]
    author = imaged.xpath(".//p[@class='meta']/a")[0]
    assert (author.text, author.get("href")) == (
        "Ayşe Yıldırım",
        "https://haber.example.com.tr/ayse",
    )
    (image,) = imaged.iter("img")
    assert (image.get("src"), image.get("alt"), image.get("loading")) == (
        IMAGE_URL,
        "Görsel",
        "lazy",
    )


def test_head_has_autodiscovery_canonical_and_viewport(dunya) -> None:
    page = page_of(dunya)
    alternates = [
        (link.get("type"), link.get("href"), link.get("title"))
        for link in page.xpath("//head/link[@rel='alternate']")
    ]
    assert alternates == [
        ("application/rss+xml", f"{BASE}.rss", "Haber — Dünya (RSS)"),
        ("application/atom+xml", f"{BASE}.atom", "Haber — Dünya (Atom)"),
        ("application/feed+json", f"{BASE}.json", "Haber — Dünya (JSON Feed)"),
    ]
    assert page.xpath("//head/link[@rel='canonical']/@href") == [f"{BASE}.html"]
    assert page.xpath("//head/meta[@name='viewport']/@content")
    assert page.xpath("//head/meta/@charset") == ["utf-8"]


def test_only_external_resource_is_the_articles_image(dunya) -> None:
    page = page_of(dunya)
    assert page.xpath("//@src") == [IMAGE_URL]
    assert not page.xpath("//link[@rel='stylesheet'] | //script[@src] | //*[@style]")
    assert {link.get("rel") for link in page.iter("link")} == {"canonical", "alternate"}
    assert "xsl" not in render_html(build_feed(DUNYA, dunya, "Dünya", SETTINGS)).decode().lower()


def test_subscribe_urls_are_there_without_javascript(dunya) -> None:
    page = page_of(dunya)
    for script in list(page.iter("script")):
        script.drop_tree()  # as a browser with JavaScript off would ignore it
    box = page.xpath("//section[h2='Abone ol']")[0]
    fields = box.xpath(".//input")
    assert [f.get("value") for f in fields] == [f"{BASE}.rss", f"{BASE}.atom", f"{BASE}.json"]
    assert all(f.get("type") == "text" and f.get("readonly") is not None for f in fields)
    assert all(f.get("hidden") is None for f in fields)
    labels = [box.xpath(f".//label[@for='{f.get('id')}']")[0].text for f in fields]
    assert labels == ["RSS", "Atom", "JSON Feed"]
    buttons = box.xpath(".//button")
    assert [b.text for b in buttons] == ["Kopyala"] * 3
    assert all(b.get("hidden") is not None for b in buttons)  # shown only by the script


def test_hostile_text_is_escaped(seed_article) -> None:
    hostile = {
        **seed_article,
        "title": "<script>alert(1)</script> \"tırnak\" 'tek' & <b>kalın</b>",
        "summary": "Özet </p><script>alert(2)</script>",
        "tags": ['"><img src=x onerror=alert(3)>'],
        "authors": [{"name": "Yazar <i>eğik</i>"}],
        "image": {"url": IMAGE_URL, "alt": '" onload="alert(4)'},
    }
    feed = build_feed(DUNYA, articles([hostile]), "Dünya <b>", SETTINGS)
    html = render_html(feed)
    assert_well_formed(html)
    page = lxml.html.fromstring(html)
    (script,) = page.iter("script")  # only the page's own copy helper
    assert "alert" not in script.text
    assert not list(page.iter("b")) and not list(page.iter("i"))
    assert page.xpath("//@src") == [IMAGE_URL]
    assert not page.xpath("//@onerror | //@onload")
    row = item_rows(page)[0]
    assert row.findtext(".//h3/a") == feed.items[0].title
    assert row.find(".//img").get("alt") == '" onload="alert(4)'


def test_only_http_links_reach_the_page(dunya) -> None:
    feed = build_feed(DUNYA, dunya, "Dünya", SETTINGS)
    item = replace(feed.items[0], url="javascript:alert(1)", comments_url="data:text/html,x")
    page = lxml.html.fromstring(render_html(replace(feed, items=(item,))))
    assert not [h for h in page.xpath("//@href") if not h.startswith(("http", "#"))]
    assert item_rows(page)[0].findtext(".//h3") == item.title  # shown, just not linked


def test_empty_feed_says_so_and_still_offers_subscription() -> None:
    page = lxml.html.fromstring(render_html(build_feed(DUNYA, [], "Dünya", SETTINGS)))
    assert page.xpath("//p[@class='empty']/text()") == [EMPTY_MESSAGE]
    assert EMPTY_MESSAGE == "Bu akışta henüz haber yok."
    assert not item_rows(page)
    assert len(page.xpath("//section[h2='Abone ol']//input")) == 3


def test_page_is_well_formed_and_the_same_bytes_every_build(dunya) -> None:
    first = render_html(build_feed(DUNYA, dunya, "Dünya", SETTINGS))
    again = render_html(build_feed(DUNYA, list(dunya), "Dünya", SETTINGS))
    assert first == again
    assert_well_formed(first)
    assert_well_formed(render_html(build_feed(DUNYA, [], None, SETTINGS)))
