"""The index page at `/`: every published feed under its display name, sitemaps by month."""

from __future__ import annotations

import lxml.html

from services.render.feed.index_page import render_index, sitemap_label, turkish_sort_key
from shared.settings import Settings
from tests.render.building import build
from tests.render.feed.test_page import assert_well_formed

BASE = "https://feeds.example.com.tr/"
SETTINGS = Settings(feeds_base_url=BASE)
FORMATS = ("rss", "atom", "json", "html")
LABELS = {
    "feed:section:dunya": "Dünya",
    "feed:section:gundem": "Gündem",
    "feed:section:yasam": "Yaşam",
    "feed:tag:agit": "AGİT",
    "feed:tag:nato": "NATO",
    "feed:author:dis-haberler-servisi": "Dış Haberler Servisi",
}
SITEMAPS = [
    "sitemap.xml",
    "sitemaps/2025-12.xml",
    "sitemaps/2026-01-2.xml",
    "sitemaps/2026-01.xml",
    "sitemaps/news.xml",
]


def feed_paths(stem: str, formats: tuple[str, ...] = FORMATS) -> list[str]:
    return [f"{stem}.{fmt}" for fmt in formats]


def site_paths() -> list[str]:
    paths = feed_paths("feeds/all")
    for slug in ("yasam", "dunya", "gundem"):
        paths += feed_paths(f"feeds/sections/{slug}")
    paths += feed_paths("feeds/tags/agit") + feed_paths("feeds/tags/nato", ("rss", "atom"))
    paths += feed_paths("feeds/authors/dis-haberler-servisi")
    return sorted(paths + SITEMAPS)


def page_of(labels: dict[str, str], paths: list[str], settings: Settings = SETTINGS):
    return lxml.html.fromstring(render_index(settings, labels, paths))


def group(page: lxml.html.HtmlElement, heading: str) -> lxml.html.HtmlElement:
    (found,) = page.xpath(f"//section[h2[starts-with(normalize-space(), '{heading}')]]")
    return found


def names(section: lxml.html.HtmlElement) -> list[str]:
    return [n.text_content() for n in section.xpath(".//*[@class='name']")]


def test_feeds_are_grouped_under_their_display_names() -> None:
    page = page_of(LABELS, site_paths())
    assert [h.text.strip() for h in page.iter("h2")] == [
        "Tüm haberler",
        "Bölümler",
        "Etiketler",
        "Yazarlar",
        "Site haritaları",
    ]
    assert names(group(page, "Tüm haberler")) == ["Haber"]
    assert names(group(page, "Bölümler")) == ["Dünya", "Gündem", "Yaşam"]
    assert names(group(page, "Etiketler")) == ["AGİT", "NATO"]
    assert names(group(page, "Yazarlar")) == ["Dış Haberler Servisi"]


def test_slug_stands_in_when_no_label_is_known() -> None:
    page = page_of({}, feed_paths("feeds/sections/dunya"))
    assert names(group(page, "Bölümler")) == ["dunya"]


def test_each_feed_links_its_page_and_only_the_formats_that_exist() -> None:
    page = page_of(LABELS, site_paths())
    dunya = group(page, "Bölümler").xpath(".//li")[0]
    assert dunya.xpath(".//a/@href") == [
        f"{BASE}feeds/sections/dunya.html",
        f"{BASE}feeds/sections/dunya.rss",
        f"{BASE}feeds/sections/dunya.atom",
        f"{BASE}feeds/sections/dunya.json",
    ]
    assert [a.text for a in dunya.xpath(".//span[@class='formats']/a")] == ["RSS", "Atom", "JSON"]
    nato = group(page, "Etiketler").xpath(".//li")[1]
    # No page and no JSON published: the name is plain text, and two badges.
    assert nato.xpath(".//a/@href") == [f"{BASE}feeds/tags/nato.rss", f"{BASE}feeds/tags/nato.atom"]
    assert nato.xpath(".//span[@class='name']/text()") == ["NATO"]


def test_links_keep_a_path_prefix_of_the_feeds_base_url() -> None:
    prefixed = Settings(feeds_base_url="https://example.com.tr/haber/")
    page = page_of(LABELS, feed_paths("feeds/sections/dunya"), prefixed)
    assert (
        page.xpath("//main//a/@href")[0] == "https://example.com.tr/haber/feeds/sections/dunya.html"
    )


def test_turkish_alphabetical_order() -> None:
    labels = ["Ürdün", "Zambiya", "İran", "Irak", "Çin", "cezayir", "Şili", "Suriye", "Özbek"]
    expected = ["cezayir", "Çin", "Irak", "İran", "Özbek", "Suriye", "Şili", "Ürdün", "Zambiya"]
    assert sorted(labels, key=turkish_sort_key) == expected
    slugs = {f"feed:tag:t{i}": label for i, label in enumerate(labels)}
    paths = [p for i in range(len(labels)) for p in feed_paths(f"feeds/tags/t{i}")]
    assert names(group(page_of(slugs, paths), "Etiketler")) == expected


def test_sitemaps_are_labelled_in_turkish_newest_month_first() -> None:
    sitemaps = group(page_of(LABELS, site_paths()), "Site haritaları")
    assert names(sitemaps) == [
        "Site haritası dizini",
        "Google Haberler site haritası",
        "Ocak 2026",
        "Ocak 2026 (2. bölüm)",
        "Aralık 2025",
    ]
    assert sitemaps.xpath(".//a/@href")[:3] == [
        f"{BASE}sitemap.xml",
        f"{BASE}sitemaps/news.xml",
        f"{BASE}sitemaps/2026-01.xml",
    ]
    assert sitemap_label("sitemaps/2026-02-3.xml") == "Şubat 2026 (3. bölüm)"


def test_site_wide_feed_is_autodiscoverable() -> None:
    page = page_of(LABELS, site_paths())
    alternates = [
        (a.get("type"), a.get("href")) for a in page.xpath("//head/link[@rel='alternate']")
    ]
    assert alternates == [
        ("application/rss+xml", f"{BASE}feeds/all.rss"),
        ("application/atom+xml", f"{BASE}feeds/all.atom"),
        ("application/feed+json", f"{BASE}feeds/all.json"),
    ]
    assert page.get("lang") == "tr"
    assert page.xpath("//head/meta[@name='viewport']")
    without_all = [p for p in site_paths() if not p.startswith("feeds/all.")]
    assert not page_of(LABELS, without_all).xpath("//link[@rel='alternate']")


def test_index_escapes_names() -> None:
    hostile = "x'><script>alert(1)</script>&amp;\""
    settings = SETTINGS.model_copy(update={"site_name": "Haber <b>&</b>"})
    paths = feed_paths("feeds/all") + feed_paths("feeds/tags/x")
    html = render_index(settings, {"feed:tag:x": hostile}, paths)
    assert_well_formed(html)
    page = lxml.html.fromstring(html)
    assert not list(page.iter("script")) and not list(page.iter("b"))
    assert names(group(page, "Etiketler")) == [hostile]
    assert names(group(page, "Tüm haberler")) == ["Haber <b>&</b>"]
    assert page.findtext(".//title") == "Haber <b>&</b> — Haber akışları"


def test_index_is_well_formed_deterministic_and_self_contained() -> None:
    first = render_index(SETTINGS, LABELS, site_paths())
    assert first == render_index(SETTINGS, dict(reversed(LABELS.items())), site_paths()[::-1])
    assert_well_formed(first)
    page = lxml.html.fromstring(first)
    assert not page.xpath("//@src | //script | //link[@rel='stylesheet'] | //*[@style]")
    empty = render_index(SETTINGS, {}, [])
    assert_well_formed(empty)
    assert lxml.html.fromstring(empty).xpath("//p[@class='empty']/text()") == [
        "Henüz yayımlanmış akış yok."
    ]


def test_index_is_built_when_a_feed_appears(ctx, write, seed_article, db) -> None:
    write(seed_article)
    for target in ("feed:all", "feed:section:dunya", "feed:index"):
        build(ctx, target)
    page = lxml.html.fromstring(ctx.store.get("index.html").body)
    assert f"{ctx.settings.feeds_base_url}feeds/sections/dunya.rss" in page.xpath("//a/@href")
    assert names(group(page, "Bölümler")) == ["Dünya"]
    write({**seed_article, "summary": "Yeni özet", "updated_at": "2026-01-18T12:00:00+03:00"})
    event = db.xrevrange("nw:events", count=1)[0][1]
    assert "feed:index" not in event["targets"]  # no new feed, no new index


def test_a_later_spelling_does_not_rename_a_section(write, seed_article, db) -> None:
    write(seed_article)
    # The same slug (dunya), another display name: the feed keeps its first name.
    write({**seed_article, "section": "DÜNYA", "updated_at": "2026-01-18T12:00:00+03:00"})
    assert db.hget("nw:names", "feed:section:dunya") == "Dünya"
