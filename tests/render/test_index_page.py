"""The index page at `/`: every published feed, linked and escaped."""

from __future__ import annotations

import lxml.html

from services.render.index_page import render_index
from shared.settings import Settings
from tests.render.building import build

SETTINGS = Settings()


def test_index_links_every_feed_and_sitemap() -> None:
    paths = ["feeds/all.rss", "feeds/sections/dunya.atom", "feeds/tags/nato.json", "sitemap.xml"]
    page = lxml.html.fromstring(render_index(SETTINGS, {}, paths))
    assert sorted(a.get("href") for a in page.iter("a")) == sorted(f"/{p}" for p in paths)


def test_index_escapes_names() -> None:
    hostile = "feeds/tags/x'><script>alert(1)</script>&amp.rss"
    html = render_index(SETTINGS.model_copy(update={"site_name": "Haber <b>&</b>"}), {}, [hostile])
    page = lxml.html.fromstring(html)
    assert not list(page.iter("script"))
    assert not list(page.iter("b"))
    assert [a.get("href") for a in page.iter("a")] == [f"/{hostile}"]


def test_index_is_built_when_a_feed_appears(ctx, write, seed_article, db) -> None:
    write(seed_article)
    for target in ("feed:all", "feed:section:dunya", "feed:index"):
        build(ctx, target)
    page = lxml.html.fromstring(ctx.store.get("index.html").body)
    assert "/feeds/sections/dunya.rss" in [a.get("href") for a in page.iter("a")]
    write({**seed_article, "summary": "Yeni özet", "updated_at": "2026-01-18T12:00:00+03:00"})
    event = db.xrevrange("nw:events", count=1)[0][1]
    assert "feed:index" not in event["targets"]  # no new feed, no new index
