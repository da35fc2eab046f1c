"""Conformance over generated articles: every format, for any valid article, follows its spec.

Articles come from hypothesis: with or without authors, summary, body and image; one tag or
fifty; Turkish, emoji and hostile text (markup, quotes, control characters); any offset.
Each feed is checked by the specs' rules (tests/render/feed/feed_rules.py) and read back by
feedparser, which must not flag it, and with every title and id intact.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import feedparser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.render.feed.formats import render_atom, render_json, render_rss
from services.render.feed.model import FeedTarget, build_feed
from shared.article import Article
from shared.html.sanitize import clean_text
from shared.settings import Settings
from tests.render.feed.feed_articles import articles as validated_articles
from tests.render.feed.feed_rules import check_atom, check_json, check_rss, feedparser_text

SETTINGS = Settings(
    site_url="https://haber.example.com.tr/", feeds_base_url="https://feeds.example.com.tr/"
)
TURKISH = "abcçdefgğhıijklmnoöprsştuüvyzABCÇDEFGĞHIİJKLMNOÖPRSŞTUÜVYZâÂîû"
HOSTILE = "<>&\"'’“”/\\;:!?#%{}[]\x00\x01\x0b\x1f\x7f\x85\ufeff\u200b\u202e"
EMOJI = "📰🇹🇷👍🏽❄️🔥"
TEXT = st.text(alphabet=TURKISH + HOSTILE + EMOJI + "0123456789  ", min_size=1, max_size=120)
WORD = st.text(alphabet=TURKISH + "0123456789", min_size=1, max_size=20)
OFFSETS = [
    timedelta(hours=h, minutes=m)
    for h, m in ((3, 0), (0, 0), (-5, 0), (5, 45), (14, 0), (-12, 0), (-3, -30))
]


@st.composite
def articles(draw: st.DrawFn, n: int) -> dict:
    offset = timezone(draw(st.sampled_from(OFFSETS)))
    published = draw(st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1))).replace(
        microsecond=0, tzinfo=offset
    )
    updated = published + timedelta(seconds=draw(st.integers(0, 10**7)))
    article = {
        "id": f"a{n}-" + draw(st.from_regex(r"[A-Za-z0-9._:-]{1,20}", fullmatch=True)),
        "url": f"https://haber.example.com.tr/h/{n}?q="
        + draw(st.from_regex(r"[a-z0-9&=%]{0,20}", fullmatch=True)),
        "title": draw(TEXT.filter(_has_text)),
        "section": draw(WORD),
        "published_at": published.isoformat(),
        "updated_at": updated.isoformat(),
        "tags": draw(st.lists(WORD, max_size=50, unique_by=str.lower)),
        "authors": [
            {"name": name} | ({"url": "https://haber.example.com.tr/yazar"} if with_url else {})
            for name, with_url in draw(st.lists(st.tuples(WORD, st.booleans()), max_size=3))
        ],
    }
    if draw(st.booleans()):
        article["summary"] = draw(TEXT)
    if draw(st.booleans()):
        link = draw(
            st.sampled_from(["/dunya/onceki", "img/a.jpg", "#yorumlar", "https://a.example/"])
        )
        article["body_html"] = (
            f"<p>{draw(TEXT)} <a href='{link}'>bağlantı</a> <img src='{link}'></p>"
            "<script>alert(1)</script>"
        )
    if draw(st.booleans()):
        article["image"] = {"url": f"https://img.example.com.tr/{n}.jpg", "alt": draw(TEXT)}
    if draw(st.booleans()):
        article["comments_url"] = f"https://haber.example.com.tr/h/{n}#yorumlar"
    return article


def _has_text(value: str) -> bool:
    return bool(clean_text(value).strip())


def feed_of(raws: list[dict]) -> tuple[list[Article], bytes, bytes, bytes]:
    validated = validated_articles(raws)
    feed = build_feed(FeedTarget("section", "dunya"), validated, "Dünya", SETTINGS)
    return validated, render_rss(feed), render_atom(feed), render_json(feed)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(0, 10**6), min_size=0, max_size=4, unique=True).flatmap(
        lambda ns: st.tuples(*(articles(n) for n in ns))
    )
)
def test_every_format_follows_its_spec_for_any_article(raws: tuple[dict, ...]) -> None:
    validated, rss, atom, json_feed = feed_of(list(raws))
    check_rss(rss)
    check_atom(atom)
    document = check_json(json_feed)
    titles = [a.title for a in validated]
    guids = [f"tag:haber.example.com.tr,2026:article:{a.id}" for a in validated]
    for body in (rss, atom):
        parsed = feedparser.parse(body)
        assert not parsed.bozo, parsed.bozo_exception
        assert [feedparser_text(e.title_detail) for e in parsed.entries] == titles
        assert [e.id for e in parsed.entries] == guids
        for entry, article in zip(parsed.entries, validated, strict=True):
            names = {a.name for a in article.authors} or {"Haber"}
            assert entry.author in names
    assert [item["title"] for item in document["items"]] == titles
    assert [item["id"] for item in document["items"]] == guids


def test_the_w3c_validators_two_complaints_are_gone(seed_article) -> None:
    """No byline and an image: "Missing entry element: author" and "media:group must have
    multiple media:content children" were what the W3C Feed Validator found."""
    raw = {**seed_article, "authors": [], "image": {"url": "https://img.example.com.tr/a.jpg"}}
    _, rss, atom, _ = feed_of([raw])
    for root in (check_rss(rss), check_atom(atom)):
        assert not root.findall(".//{http://search.yahoo.com/mrss/}group")
        assert len(root.findall(".//{http://search.yahoo.com/mrss/}content")) == 1
    author = check_atom(atom).find(
        "{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}author"
    )
    assert author.findtext("{http://www.w3.org/2005/Atom}name") == "Haber"
