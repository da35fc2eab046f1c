"""The index page at `/`: every published feed, linked and escaped."""

from __future__ import annotations

import httpx
import lxml.html

from services.feeds.app import create_app
from shared.settings import Settings
from tests.conftest import live_server
from tests.feeds.conftest import Feeds, feed_body


def test_index_lists_published_feeds(fresh_feeds: Feeds) -> None:
    feeds = fresh_feeds
    paths = [
        "feeds/all.rss",
        "feeds/sections/dunya.atom",
        "feeds/tags/nato.json",
        "feeds/authors/dis-haberler.rss",
    ]
    for path in paths:
        feeds.publish(path, feed_body(path))
    feeds.publish("cards/a1.jpg", b"\xff\xd8jpeg")
    response = feeds.get("/")
    assert response.status == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = lxml.html.fromstring(response.body)
    assert sorted(a.get("href") for a in page.iter("a")) == sorted(f"/{p}" for p in paths)
    for link in page.iter("a"):
        assert feeds.get(link.get("href")).body == feed_body(link.get("href")[1:])


def test_index_escapes_names(fresh_feeds: Feeds) -> None:
    feeds = fresh_feeds
    hostile = "feeds/tags/x'><script>alert(1)</script>&amp.rss"
    feeds.publish(hostile, feed_body())
    html = feeds.get("/").body.decode()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "&amp;amp" in html
    page = lxml.html.fromstring(html)
    assert not list(page.iter("script"))
    assert [a.get("href") for a in page.iter("a")] == [f"/{hostile}"]


def test_index_escapes_the_site_name(fresh_settings: Settings, http_client: httpx.Client) -> None:
    hostile_settings = fresh_settings.model_copy(update={"site_name": "Haber <b>&</b>"})
    with live_server(create_app(hostile_settings)) as url:
        html = http_client.get(url + "/").text
    assert "<b>" not in html
    assert "Haber &lt;b&gt;&amp;&lt;/b&gt; feeds" in html
