"""The feeds service's routes over real HTTP: 404s, traversal, freshness, other hosts."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from services.feeds.app import create_app
from shared.settings import Settings
from shared.store.artifacts import encode
from shared.store.redis_backend import RedisStore
from tests.conftest import live_server, wait_until
from tests.feeds.conftest import Feeds, feed_body


@pytest.mark.parametrize(
    "path", ["/feeds/yok.rss", "/feeds/sections/", "/feeds", "/cards/a1.png", "/feeds/all.rss/x"]
)
def test_unknown_path_is_404(feeds: Feeds, path: str) -> None:
    feeds.publish("feeds/all.rss", feed_body())
    response = feeds.get(path)
    assert response.status == 404
    error = json.loads(response.body)["error"]
    assert (error["status"], error["code"], error["fields"]) == (404, "not_found", [])


@pytest.mark.parametrize(
    "raw_path",
    [
        "/feeds/../../etc/passwd",
        "/%2e%2e/x",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/feeds/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2fetc%2fpasswd",
        "/%2fetc/passwd",
        "//etc/passwd",
        "/feeds/..%5c..%5cetc%5cpasswd",
        "/.watermarks/{mark}",
        "/.locks/{mark}",
        "/feeds/.tmp-x",
        "/feeds/all.rss%00.jpg",
    ],
)
def test_traversal_attempts_are_404(feeds: Feeds, raw_path: str) -> None:
    artifact = feeds.publish("feeds/all.rss", feed_body())
    # The filesystem store keeps this watermark file next to the artifacts.
    raw_path = raw_path.format(mark="t_" + artifact.path.replace("/", "_"))
    # http.client sends the path byte for byte; httpx would resolve the dot segments first.
    url = urlsplit(feeds.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    try:
        connection.request("GET", raw_path)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 404
    assert b"root:" not in body


def test_new_publish_is_served_on_the_next_request(feeds: Feeds) -> None:
    for i in range(10):
        artifact = feeds.publish("feeds/all.rss", feed_body(str(i)), target="feed:all")
        for accept_encoding in ("identity", "br", "gzip"):
            response = feeds.get("/feeds/all.rss", accept_encoding=accept_encoding)
            coding = None if accept_encoding == "identity" else accept_encoding
            assert response.body == (getattr(artifact, coding) if coding else artifact.body)


def test_revalidation_after_a_publish_gets_the_new_body(feeds: Feeds) -> None:
    old = feeds.publish("feeds/all.rss", feed_body("old"), target="feed:all")
    assert feeds.get("/feeds/all.rss", if_none_match=old.etag).status == 304
    new = feeds.publish("feeds/all.rss", feed_body("new"), target="feed:all")
    response = feeds.get("/feeds/all.rss", if_none_match=old.etag)
    assert response.status == 200
    assert response.body == new.body
    assert response.headers["etag"] == new.etag


def test_post_is_not_allowed(feeds: Feeds) -> None:
    feeds.publish("feeds/all.rss", feed_body())
    assert feeds.request("POST", "/feeds/all.rss").status == 405


def test_redis_backed_service_serves_another_hosts_publish(
    feeds_settings: Settings, http_client: httpx.Client
) -> None:
    # The production shape without a shared disk: a worker publishes, the service reads.
    reader = RedisStore(redis.Redis.from_url(feeds_settings.redis_url))
    writer = RedisStore(redis.Redis.from_url(feeds_settings.redis_url))
    with live_server(create_app(feeds_settings, reader)) as url:
        for i in range(3):
            body = feed_body(f"v{i}")
            assert writer.publish("feed:xhost", [encode("xhost/all.rss", body, 5)], f"{i}-0")
            wait_until(lambda body=body: http_client.get(url + "/xhost/all.rss").content == body, 2)
    reader.close()
    writer.close()
