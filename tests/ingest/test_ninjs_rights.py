"""An article's rights (from ninjs copyright and usage terms) in every feed format: RSS
`dc:rights`, Atom `rights` and the JSON Feed extension `_rights`; absent, none of them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import feedparser

from services.ingest.ninjs.mapping import article_from_ninjs
from services.render.feed.formats import RIGHTS_ABOUT, render_atom, render_json, render_rss
from services.render.feed.model import FeedTarget, build_feed
from shared.article import Article
from shared.settings import Settings

SETTINGS = Settings(feeds_base_url="https://feeds.example.com.tr/")
NOW = datetime(2026, 1, 20, tzinfo=UTC)
RIGHTS = "© Anadolu Ajansı <AA> Yalnız abonelere."


def article(**fields: str) -> Article:
    document = {
        "uri": "https://haber.example.com.tr/gundem/kar",
        "headlines": [{"role": "main", "value": "Kar alarmı"}],
        "subjects": [{"name": "Gündem"}],
        "versioncreated": "2026-01-18T10:00:00+03:00",
        **fields,
    }
    return Article.model_validate(article_from_ninjs(document, received_at=NOW))


def feed_of(*articles: Article):
    return build_feed(FeedTarget("section", "gundem"), list(articles), "Gündem", SETTINGS)


def test_rights_reach_rss_atom_and_json_feed() -> None:
    feed = feed_of(article(copyrightholder="Anadolu Ajansı <AA>", usageterms="Yalnız abonelere."))
    assert feed.items[0].rights == RIGHTS
    rss = feedparser.parse(render_rss(feed))
    assert not rss.bozo, rss.bozo_exception
    assert rss.entries[0].rights == RIGHTS  # dc:rights
    assert b"<dc:rights>" in render_rss(feed)
    atom = feedparser.parse(render_atom(feed))
    assert not atom.bozo, atom.bozo_exception
    assert atom.entries[0].rights == RIGHTS
    [item] = json.loads(render_json(feed))["items"]
    assert item["_rights"] == {"about": RIGHTS_ABOUT, "text": RIGHTS}


def test_an_article_without_rights_shows_none_and_stores_as_before() -> None:
    plain = article()
    assert plain.rights is None
    assert "rights" not in plain.model_dump_json()  # stored documents keep their digest
    feed = feed_of(plain)
    assert b"rights" not in render_rss(feed)
    assert b"rights" not in render_atom(feed)
    assert "_rights" not in json.loads(render_json(feed))["items"][0]
