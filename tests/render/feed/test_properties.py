"""Properties of every feed format for arbitrary Unicode: well formed, titles and links intact.

Titles, summaries, names and the feed's own display name are drawn from every code point
(surrogates, controls, `<`, `&`, `]]>`, bidi overrides and noncharacters included) and pass
through the Article model first, as ingest would, so what is rendered is what ingest stores.
Then each format must parse (lxml for XML, json for JSON Feed), feedparser must read RSS and
Atom without `bozo`, and every title and link must come back as it went in; RSS titles and
descriptions must hold no markup once decoded again as HTML. Hypothesis runs derandomized
(a fixed seed), so a failure replays as it is.
"""

from __future__ import annotations

import json
from typing import Any

import feedparser
import lxml.html
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from pydantic import ValidationError

from services.render.feed.formats import render_atom, render_json, render_rss, rss_text
from services.render.feed.model import FeedTarget, build_feed
from shared.article import Article, Author
from shared.html.sanitize import clean_text
from shared.settings import Settings
from tests.render.feed.feed_rules import feedparser_text

SETTINGS = Settings(
    site_url="https://haber.example.com.tr/", feeds_base_url="https://feeds.example.com.tr/"
)
# Fragments that break naive escaping, mixed in with arbitrary code points.
FRAGMENTS = [
    "<", ">", "&", "]]>", "<![CDATA[", "<script>alert(1)</script>", "</b>", "&amp;", "&lt;",
    "&#x6a;avascript:", "&copy", "<img src=x onerror=alert(1)>", "<!--", "<?xml", "\x00",
    "\x1b", "\x7f", "\x85", "\ud800", "\udfff", "\u202e", "\u2066", "\ufeff", "\ufffe",
    "\uffff", "\U0010ffff", "\r", "\t", "\n", "\u0301", "👨‍👩‍👧", "İ", "ı",
]  # fmt: skip
PIECE = st.one_of(
    st.characters(codec=None, categories=None),  # any code point, surrogates included
    st.sampled_from(FRAGMENTS),
)
TEXT = st.lists(PIECE, min_size=1, max_size=40).map("".join)
PATH = st.text(alphabet="abcçğışöü019-_.~%<>\"' &?=#[]", max_size=30)


def _valid(raw: dict[str, Any]) -> Article | None:
    try:
        return Article.model_validate(raw, context={"default_language": "tr"})
    except ValidationError:
        return None  # ingest answers 422: nothing to render


@st.composite
def article(draw: st.DrawFn, n: int) -> Article | None:
    raw: dict[str, Any] = {
        "id": f"a{n}",
        "url": f"https://haber.example.com.tr/{n}/" + draw(PATH),
        "title": draw(TEXT),
        "summary": draw(st.one_of(st.just(""), TEXT)),
        "section": draw(TEXT),
        "tags": draw(st.lists(TEXT, max_size=3)),
        "authors": [{"name": name} for name in draw(st.lists(TEXT, max_size=2))],
        "published_at": f"2026-01-{n + 10:02d}T11:42:00+03:00",
    }
    if draw(st.booleans()):
        raw["body_html"] = "<p>" + draw(TEXT) + "</p>"
    return _valid(raw)


# A feed's display name is an article's section (or tag, or author) as ingest stored it.
LABEL = TEXT.map(lambda text: _valid_name(text)).filter(bool)


def _valid_name(text: str) -> str | None:
    try:
        return Author(name=text).name
    except ValidationError:
        return None


ARTICLES = st.tuples(*(article(n) for n in range(3))).map(
    lambda drawn: [a for a in reversed(drawn) if a is not None]  # newest first
)


def html_markup(text: str) -> list[str]:
    """The elements an HTML parser finds in `text` (none for plain text)."""
    if not text.strip():
        return []
    fragment = lxml.html.fragment_fromstring(text, create_parent="div")
    return [element.tag for element in fragment.iterdescendants()]


@settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(articles=ARTICLES, label=LABEL)
def test_every_format_is_well_formed_and_round_trips_titles_and_links(
    articles: list[Article], label: str
) -> None:
    feed = build_feed(FeedTarget("section", "dunya"), articles, label, SETTINGS)
    rss, atom, json_feed = render_rss(feed), render_atom(feed), render_json(feed)
    for body in (rss, atom):
        etree.fromstring(body)  # raises unless well-formed XML 1.0
        parsed = feedparser.parse(body)
        assert not parsed.bozo, parsed.bozo_exception
        assert feedparser_text(parsed.feed.title_detail) == feed.title
        assert [feedparser_text(e.title_detail) for e in parsed.entries] == [
            a.title for a in articles
        ]
        assert [e.link for e in parsed.entries] == [str(a.url) for a in articles]
    document = json.loads(json_feed)
    assert document["title"] == feed.title
    assert [i["title"] for i in document["items"]] == [a.title for a in articles]
    assert [i["url"] for i in document["items"]] == [str(a.url) for a in articles]
    # What an RSS reader that decodes titles and descriptions as HTML gets: text, no tags.
    # (An item without a summary has its sanitized body as description: HTML by design.)
    channel = etree.fromstring(rss)[0]
    assert html_markup(channel.findtext("title")) == []
    assert html_markup(channel.findtext("description")) == []
    for item, source in zip(channel.iter("item"), articles, strict=True):
        assert html_markup(item.findtext("title")) == []
        if source.summary or not source.body_html:
            assert html_markup(item.findtext("description")) == []


# Plain text as ingest stores it: cleaned the way the model cleans every plain-text field.
PLAIN = TEXT.map(lambda text: clean_text(text).strip()).filter(bool)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(text=PLAIN)
def test_rss_text_decodes_to_the_text_and_never_to_markup(text: str) -> None:
    encoded = rss_text(text)
    assert html_markup(encoded) == []
    shown = lxml.html.fragment_fromstring(encoded, create_parent="p").text_content()
    assert shown == text.replace("\r\n", "\n").replace("\r", "\n")  # HTML's newlines
    assert feedparser_text(_feedparser_title(encoded)) == text


def _feedparser_title(encoded: str) -> dict[str, str]:
    """feedparser's reading of an RSS item titled `encoded` (escaped for XML by lxml)."""
    rss = etree.Element("rss", version="2.0")
    item = etree.SubElement(etree.SubElement(rss, "channel"), "item")
    etree.SubElement(item, "title").text = encoded
    return feedparser.parse(etree.tostring(rss)).entries[0].title_detail
