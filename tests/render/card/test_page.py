"""Social card pages, parsed with lxml: every Open Graph and Twitter tag, and hostile text."""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser

import lxml.html
import pytest

from services.render.card.page import CardPage, render_card_page

ARTICLE_URL = "https://haber.example.com.tr/dunya/rusyadan-flas-cikis-sansimiz-var"
IMAGE_URL = "https://cdn.haber.example.com.tr/cards/dunya-2026-01-18-lavrov-sansimiz-var.jpg"
SEED = CardPage(
    title="Rusya'dan flaş çıkış: Şansımız var",
    description='Rusya Dışişleri Bakanı Sergey Lavrov, "Batı ile güvenlik garantileri konusunda '
    'anlaşmak için şans var" diye konuştu.',
    article_url=ARTICLE_URL,
    card_image_url=IMAGE_URL,
    image_alt="Rusya'dan flaş çıkış: Şansımız var",
    site_name="Haber",
    locale="tr_TR",
    language="tr",
    published="2026-01-18T14:05:00+03:00",
    modified="2026-01-18T15:20:00+03:00",
    section="Dünya",
    tags=("Rusya", "Sergey Lavrov", "NATO", "AGİT"),
)
HOSTILE = '"><script>alert(1)</script>'
VOID = {"meta", "link", "br", "img", "hr", "input", "source", "wbr"}


def parse(page: CardPage) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(render_card_page(page))


def og(tree: lxml.html.HtmlElement, key: str) -> list[str]:
    return tree.xpath(f"/html/head/meta[@property='{key}']/@content")


def twitter(tree: lxml.html.HtmlElement, key: str) -> list[str]:
    return tree.xpath(f"/html/head/meta[@name='{key}']/@content")


class StrictChecker(HTMLParser):
    """Records elements and fails on an unclosed, stray or misnested tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.seen: list[str] = []
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag, f"misnested </{tag}>"


def test_the_page_is_a_small_valid_html5_document() -> None:
    data = render_card_page(SEED)
    assert data.startswith(b"<!doctype html>\n")
    checker = StrictChecker()
    checker.feed(data.decode("utf-8"))
    checker.close()
    assert checker.doctype == "doctype html"
    assert checker.open == []
    assert checker.seen[:3] == ["html", "head", "meta"]
    assert {"script", "style", "img", "iframe"}.isdisjoint(checker.seen)
    assert len(data) < 4096


def test_the_head_names_language_charset_title_and_canonical_url() -> None:
    tree = parse(SEED)
    assert tree.get("lang") == "tr"
    assert tree.xpath("/html/head/meta[1]/@charset") == ["utf-8"]
    assert tree.xpath("/html/head/title/text()") == [SEED.title]
    assert tree.xpath("/html/head/link[@rel='canonical']/@href") == [ARTICLE_URL]
    assert twitter(tree, "description") == [SEED.description]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("og:title", "Rusya'dan flaş çıkış: Şansımız var"),
        ("og:description", SEED.description),
        ("og:type", "article"),
        ("og:url", ARTICLE_URL),
        ("og:image", IMAGE_URL),
        ("og:image:width", "1200"),
        ("og:image:height", "630"),
        ("og:image:type", "image/jpeg"),
        ("og:image:alt", "Rusya'dan flaş çıkış: Şansımız var"),
        ("og:site_name", "Haber"),
        ("og:locale", "tr_TR"),
        ("article:published_time", "2026-01-18T14:05:00+03:00"),
        ("article:modified_time", "2026-01-18T15:20:00+03:00"),
        ("article:section", "Dünya"),
    ],
)
def test_open_graph_tags_use_property(key: str, value: str) -> None:
    tree = parse(SEED)
    assert og(tree, key) == [value]
    assert twitter(tree, key) == []


def test_every_tag_is_its_own_article_tag_in_order() -> None:
    assert og(parse(SEED), "article:tag") == ["Rusya", "Sergey Lavrov", "NATO", "AGİT"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("twitter:card", "summary_large_image"),
        ("twitter:title", "Rusya'dan flaş çıkış: Şansımız var"),
        ("twitter:description", SEED.description),
        ("twitter:image", IMAGE_URL),
        ("twitter:image:alt", "Rusya'dan flaş çıkış: Şansımız var"),
    ],
)
def test_twitter_tags_use_name(key: str, value: str) -> None:
    tree = parse(SEED)
    assert twitter(tree, key) == [value]
    assert og(tree, key) == []


def test_turkish_text_is_written_as_utf8_not_entities() -> None:
    assert "Şansımız var".encode() in render_card_page(SEED)


def test_an_empty_description_leaves_the_description_tags_out() -> None:
    tree = parse(dataclasses.replace(SEED, description=""))
    assert og(tree, "og:description") == []
    assert twitter(tree, "twitter:description") == []
    assert twitter(tree, "description") == []
    assert og(tree, "og:title") == [SEED.title]


def test_an_empty_image_alt_becomes_the_title_the_card_shows() -> None:
    tree = parse(dataclasses.replace(SEED, image_alt=""))
    assert og(tree, "og:image:alt") == [SEED.title]
    assert twitter(tree, "twitter:image:alt") == [SEED.title]


def test_the_body_is_a_headline_linking_to_the_article() -> None:
    tree = parse(SEED)
    assert tree.xpath("/html/body//h1/a/@href") == [ARTICLE_URL]
    assert tree.xpath("string(/html/body//h1)") == SEED.title
    assert set(tree.xpath("/html/body//a/@href")) == {ARTICLE_URL}


def test_hostile_text_stays_text() -> None:
    page = dataclasses.replace(
        SEED,
        title=HOSTILE,
        description="</title><script>alert('d')</script> & 'quotes' \"too\"",
        article_url='https://haber.example.com.tr/a?x=1&y="2"',
        image_alt=HOSTILE,
        site_name="<b>Haber</b>",
        section="</p><script>",
        tags=(HOSTILE, "A & B"),
    )
    tree = parse(page)
    assert tree.xpath("//script") == []
    assert tree.xpath("//b") == []
    assert tree.xpath("/html/head/title/text()") == [HOSTILE]
    assert og(tree, "og:title") == [HOSTILE]
    assert twitter(tree, "twitter:title") == [HOSTILE]
    assert og(tree, "og:image:alt") == [HOSTILE]
    assert og(tree, "og:description") == [page.description]
    assert og(tree, "og:url") == [page.article_url]
    assert og(tree, "og:site_name") == ["<b>Haber</b>"]
    assert og(tree, "article:tag") == [HOSTILE, "A & B"]
    assert tree.xpath("string(/html/body//h1)") == HOSTILE
    checker = StrictChecker()
    checker.feed(render_card_page(page).decode("utf-8"))
    assert "script" not in checker.seen
    checker.close()
    assert checker.open == []


def test_the_same_page_twice_is_the_same_bytes() -> None:
    assert render_card_page(SEED) == render_card_page(SEED)
