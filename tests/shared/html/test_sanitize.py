"""Text hygiene: XML-forbidden and control characters, NFC, and the HTML allow-list."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import lxml.etree
import lxml.html
import pytest

from shared.html.limits import HtmlLimits, HtmlTooComplex
from shared.html.sanitize import clean_text, sanitize_html

# XML 1.0's Char production, inverted: one such character makes a whole feed invalid.
XML_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def parse_fragment(html: str) -> lxml.etree._Element:
    """Parse `html` as an XML fragment; raises XMLSyntaxError when it is not well-formed."""
    return lxml.etree.fromstring(f"<root>{html}</root>")


def text_of(html: str) -> str:
    return " ".join(lxml.html.fragment_fromstring(html, create_parent="div").text_content().split())


@pytest.mark.parametrize(
    "forbidden", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\ufffe", "\uffff"]
)
def test_clean_text_strips_xml_forbidden_characters(forbidden: str) -> None:
    assert clean_text(f"Şansımız{forbidden} var") == "Şansımız var"


@pytest.mark.parametrize("surrogate", ["\ud800", "\udbff", "\udc00", "\udfff"])
def test_clean_text_strips_lone_surrogates(surrogate: str) -> None:
    cleaned = clean_text(f"a{surrogate}b")
    assert cleaned == "ab"
    cleaned.encode("utf-8")  # a lone surrogate would raise here


@pytest.mark.parametrize("control", ["\x7f", "\x80", "\x85", "\x9b", "\x9f"])
def test_clean_text_strips_c1_controls(control: str) -> None:
    assert clean_text(f"Dünya{control}") == "Dünya"


def test_clean_text_keeps_tab_newline_and_astral_characters() -> None:
    value = "satır 1\n\tsatır 2\r\n📰 “Haber” — Âyet"
    assert clean_text(value) == value


def test_clean_text_nfc_normalizes() -> None:
    decomposed = "Du\u0308nya s\u0327ans A\u0302yet I\u0307stanbul"
    cleaned = clean_text(decomposed)
    assert cleaned == "Dünya şans Âyet İstanbul"
    assert unicodedata.is_normalized("NFC", cleaned)


def test_clean_text_normalizes_after_stripping() -> None:
    # A forbidden character between a base letter and its combining mark must not leave
    # the pair decomposed once it is removed.
    cleaned = clean_text("Du\x00\u0308nya")
    assert cleaned == "Dünya"
    assert unicodedata.is_normalized("NFC", cleaned)


def test_sanitize_drops_script_and_style_with_their_content() -> None:
    html = sanitize_html("<p>önce</p><script>alert('x')</script><style>p{}</style><p>sonra</p>")
    assert "script" not in html
    assert "alert" not in html
    assert "style" not in html
    assert html == "<p>önce</p><p>sonra</p>"


def test_sanitize_drops_event_handler_attributes() -> None:
    html = sanitize_html(
        '<p onclick="steal()">a</p><a href="https://e.com/" onmouseover="steal()">b</a>'
        '<img src="https://e.com/x.jpg" onerror="steal()">'
    )
    assert "steal" not in html
    assert not re.search(r"\son\w+=", html)
    assert 'src="https://e.com/x.jpg"' in html


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java&#x09;script:alert(1)",
        "java&#1;script:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
    ],
)
def test_sanitize_drops_dangerous_urls(href: str) -> None:
    html = sanitize_html(f'<a href="{href}">tıkla</a>')
    assert "javascript:" not in html.lower().replace("\t", "")
    assert "data:" not in html
    assert "vbscript" not in html
    assert text_of(html) == "tıkla"


def test_sanitize_keeps_allowed_structure() -> None:
    source = (
        '<p>Lavrov konuştu.</p><blockquote cite="https://e.com/q"><p>"Şans var"</p></blockquote>'
        '<h2>Ara başlık</h2><p><a href="https://haber.example.com.tr/dunya?a=1&amp;b=2">'
        "Yorumlar</a></p>"
    )
    root = parse_fragment(sanitize_html(source))
    assert [child.tag for child in root] == ["p", "blockquote", "h2", "p"]
    assert root.find("blockquote").get("cite") == "https://e.com/q"
    assert root.find("blockquote/p").text == '"Şans var"'
    assert root.find("h2").text == "Ara başlık"
    link = root.find("p/a")
    assert link.get("href") == "https://haber.example.com.tr/dunya?a=1&b=2"
    assert link.text == "Yorumlar"


def test_sanitize_output_is_an_xml_fragment_without_forbidden_characters() -> None:
    hostile = (
        "<p>a\x00b\x1bc\x85d\ufffe\ud800e</p>"
        "<p>&#0;&#x1b;&#1;&#xFFFE;&#xD800;&#x7f;&#x9d;</p>"
        '<p title="x&#x1b;y"><a href="https://e.com/&#x1b;">z</a></p>'
        "<script>x</script><iframe src='https://e.com'></iframe>"
    )
    html = sanitize_html(hostile)
    assert not XML_FORBIDDEN.search(html)
    assert not re.search("[\x7f-\x9f]", html)
    html.encode("utf-8")
    root = parse_fragment(html)
    assert root[0].text == "abcde"
    assert [child.tag for child in root] == ["p", "p", "p"]


def test_sanitize_adds_noopener_to_links() -> None:
    root = parse_fragment(sanitize_html('<a href="https://e.com/">e</a>'))
    assert set(root[0].get("rel").split()) == {"noopener", "noreferrer"}


def test_corpus_body_survives_with_its_text(corpus: list[dict[str, Any]]) -> None:
    bodies = [a["body_html"] for a in corpus if a.get("body_html")]
    assert bodies
    for body in bodies:
        sanitized = sanitize_html(body)
        assert text_of(sanitized) == text_of(body)
        root = parse_fragment(sanitized)
        assert {el.tag for el in root.iter()} >= {"p"}
        # Sanitizing is idempotent: stored bodies can be sanitized again without change.
        assert sanitize_html(sanitized) == sanitized


def test_seed_body_keeps_its_quote_and_subheading(seed_article: dict[str, Any]) -> None:
    root = parse_fragment(sanitize_html(seed_article["body_html"]))
    assert root.findall(".//blockquote")
    assert root.findall(".//h2")
    assert "Lavrov" in "".join(root.itertext())


def test_relative_links_and_images_resolve_against_the_article() -> None:
    article = "https://haber.example.com.tr/dunya/haber-1"
    html = sanitize_html(
        '<p><a href="/dunya/onceki?a=1&amp;b=2">önceki</a> <img src="img/a.jpg" alt="">'
        ' <a href="#yorumlar">yorumlar</a> <a href="https://e.com/x">dış</a></p>',
        article,
    )
    page = lxml.html.fragment_fromstring(html)
    assert [link for _, _, link, _ in page.iterlinks()] == [
        "https://haber.example.com.tr/dunya/onceki?a=1&b=2",
        "https://haber.example.com.tr/dunya/img/a.jpg",
        "https://haber.example.com.tr/dunya/haber-1#yorumlar",
        "https://e.com/x",
    ]
    # Text that looks like an attribute is text, and stays as it was.
    assert 'href="x"' in sanitize_html('<p>yazı href="x"</p>', article)


def test_a_character_reference_to_a_forbidden_character_becomes_a_space() -> None:
    assert sanitize_html("<p>a&#1;b</p>") == "<p>a b</p>"


@pytest.mark.parametrize("tag", ["blockquote", "q"])
@pytest.mark.parametrize(
    "cite",
    [
        "javascript:alert(1)",
        " JaVaScRiPt:alert(1)",
        "java&#x09;script:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:x",
        "mailto:a@example.com",
        "file:///etc/passwd",
    ],
)
def test_cite_keeps_only_web_urls(tag: str, cite: str) -> None:
    html = sanitize_html(f'<{tag} cite="{cite}">söz</{tag}>', "https://haber.example.com.tr/a")
    root = parse_fragment(html)
    assert root[0].tag == tag
    assert root[0].get("cite") is None
    assert text_of(html) == "söz"


def test_relative_cite_resolves_against_the_article() -> None:
    html = sanitize_html(
        '<blockquote cite="../kaynak?a=1&amp;b=2">a</blockquote><q cite="//e.com/x">b</q>'
        '<q cite="https://e.com/y">c</q>',
        "https://haber.example.com.tr/dunya/haber-1",
    )
    assert [el.get("cite") for el in parse_fragment(html)] == [
        "https://haber.example.com.tr/kaynak?a=1&b=2",
        "https://e.com/x",
        "https://e.com/y",
    ]


def test_image_sources_are_web_urls_only_while_links_may_mail() -> None:
    html = sanitize_html(
        '<img src="mailto:a@e.com"><img src="https://e.com/a.jpg">'
        '<a href="mailto:haber@example.com.tr">yaz</a>',
        "https://haber.example.com.tr/a",
    )
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    assert [img.get("src") for img in root.findall("img")] == [None, "https://e.com/a.jpg"]
    assert root.find("a").get("href") == "mailto:haber@example.com.tr"


def test_sanitize_refuses_markup_past_the_limits_before_parsing_it() -> None:
    limits = HtmlLimits(max_depth=8, max_elements=100, max_attributes=8)
    assert sanitize_html("<div>" * 8 + "x", None, limits)
    with pytest.raises(HtmlTooComplex):
        sanitize_html("<div>" * 9 + "x", None, limits)


BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068"]
BIDI += ["\u2069", "\u200e", "\u200f", "\u061c"]
FORMAT = ["\u00ad", "\u2060", "\u2061", "\u2064", "\ufeff", "\u200b", "\u180e", "\U000e0001"]


@pytest.mark.parametrize("invisible", BIDI + FORMAT)
def test_clean_text_strips_bidi_controls_and_format_characters(invisible: str) -> None:
    assert clean_text(f"Dış{invisible}işleri") == "Dışişleri"


def test_clean_text_strips_every_format_character_but_joiners_and_tags() -> None:
    kept = {"\u200c", "\u200d"} | {chr(c) for c in range(0xE0020, 0xE0080)}
    for code in range(0x110000):
        char = chr(code)
        if unicodedata.category(char) == "Cf" and char not in kept:
            assert clean_text(f"a{char}b") == "ab", hex(code)


def test_clean_text_keeps_emoji_sequences_and_joiners() -> None:
    england = "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
    for value in ["👨\u200d👩\u200d👧", england, "می\u200cخواهم", "❄️"]:
        assert clean_text(value) == value


def test_markup_keeps_its_soft_hyphens() -> None:
    # In running text a soft hyphen is a hyphenation hint, not a disguise.
    assert sanitize_html("<p>Dışiş\u00adleri</p>") == "<p>Dışiş\u00adleri</p>"
