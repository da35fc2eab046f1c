"""Serving one artifact over real HTTP: content types, validators, 304s, HEAD, encodings."""

from __future__ import annotations

from email.utils import formatdate, parsedate_to_datetime

import pytest

from shared.settings import Settings
from tests.feeds.conftest import Feeds, feed_body


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/feeds/all.rss", "application/rss+xml; charset=utf-8"),
        ("/feeds/sections/dunya.atom", "application/atom+xml; charset=utf-8"),
        ("/feeds/tags/nato.json", "application/feed+json; charset=utf-8"),
        ("/sitemaps/news.xml", "application/xml; charset=utf-8"),
        ("/cards/a1.html", "text/html; charset=utf-8"),
        ("/cards/a1.jpg", "image/jpeg"),
    ],
)
def test_artifact_is_served_with_its_exact_content_type(
    feeds: Feeds, path: str, content_type: str
) -> None:
    artifact = feeds.publish(path.lstrip("/"), feed_body(path))
    response = feeds.get(path)
    assert response.status == 200
    assert response.headers["content-type"] == content_type
    assert response.body == artifact.body
    assert "content-encoding" not in response.headers


def test_response_carries_validators_and_cache_control(
    feeds: Feeds, feeds_settings: Settings
) -> None:
    artifact = feeds.publish("feeds/all.rss", feed_body())
    response = feeds.get("/feeds/all.rss")
    stored = feeds.store.get(artifact.path)
    assert stored is not None
    assert response.headers["etag"] == artifact.etag
    assert response.headers["etag"].startswith('"')
    assert response.headers["last-modified"] == formatdate(stored.modified, usegmt=True)
    assert parsedate_to_datetime(response.headers["last-modified"]).timestamp() == int(
        stored.modified
    )
    assert response.headers["cache-control"] == f"public, max-age={feeds_settings.feed_max_age}"
    assert response.headers["content-length"] == str(len(artifact.body))


@pytest.mark.parametrize("coding", [None, "gzip", "br"])
def test_if_none_match_with_any_variant_tag_gives_304(feeds: Feeds, coding: str | None) -> None:
    artifact = feeds.publish("feeds/all.rss", feed_body())
    tag = artifact.etag if coding is None else f'{artifact.etag[:-1]}-{coding}"'
    if coding:
        assert feeds.get("/feeds/all.rss", accept_encoding=coding).headers["etag"] == tag
    response = feeds.get("/feeds/all.rss", if_none_match=tag)
    assert response.status == 304
    assert response.body == b""
    assert response.headers["etag"] == artifact.etag


@pytest.mark.parametrize(
    "header",
    ['"0000", {etag}', "W/{etag}", "*", '{etag_br}, "other"'],
)
def test_if_none_match_lists_and_weak_forms(feeds: Feeds, header: str) -> None:
    artifact = feeds.publish("feeds/all.rss", feed_body())
    value = header.format(etag=artifact.etag, etag_br=f'{artifact.etag[:-1]}-br"')
    assert feeds.get("/feeds/all.rss", if_none_match=value).status == 304


def test_other_etag_gets_the_body(feeds: Feeds) -> None:
    artifact = feeds.publish("feeds/all.rss", feed_body())
    stale_tag = feeds.publish("feeds/other.rss", feed_body("other")).etag
    response = feeds.get("/feeds/all.rss", if_none_match=stale_tag)
    assert response.status == 200
    assert response.body == artifact.body


def test_if_modified_since(feeds: Feeds) -> None:
    artifact = feeds.publish("feeds/all.rss", feed_body())
    last_modified = feeds.get("/feeds/all.rss").headers["last-modified"]
    assert feeds.get("/feeds/all.rss", if_modified_since=last_modified).status == 304
    later = formatdate(parsedate_to_datetime(last_modified).timestamp() + 3600, usegmt=True)
    assert feeds.get("/feeds/all.rss", if_modified_since=later).status == 304
    earlier = formatdate(parsedate_to_datetime(last_modified).timestamp() - 1, usegmt=True)
    response = feeds.get("/feeds/all.rss", if_modified_since=earlier)
    assert response.status == 200
    assert response.body == artifact.body
    assert feeds.get("/feeds/all.rss", if_modified_since="not a date").status == 200


def test_if_none_match_takes_precedence_over_if_modified_since(feeds: Feeds) -> None:
    feeds.publish("feeds/all.rss", feed_body())
    last_modified = feeds.get("/feeds/all.rss").headers["last-modified"]
    response = feeds.get("/feeds/all.rss", if_none_match='"0000"', if_modified_since=last_modified)
    assert response.status == 200


@pytest.mark.parametrize("accept_encoding", [None, "br", "gzip"])
def test_head_has_the_headers_and_no_body(feeds: Feeds, accept_encoding: str | None) -> None:
    feeds.publish("feeds/all.rss", feed_body())
    headers = {"accept_encoding": accept_encoding} if accept_encoding else {}
    get = feeds.get("/feeds/all.rss", **headers)
    head = feeds.request("HEAD", "/feeds/all.rss", **headers)
    assert head.status == 200
    assert head.body == b""
    for name in ("content-type", "etag", "last-modified", "cache-control", "content-length"):
        assert head.headers[name] == get.headers[name]
    assert head.headers["content-length"] == str(len(get.body))
    assert head.headers.get("content-encoding") == get.headers.get("content-encoding")


@pytest.mark.parametrize(
    ("accept_encoding", "coding"),
    [
        ("br", "br"),
        ("gzip", "gzip"),
        ("gzip, deflate, br", "br"),
        ("br;q=0, gzip", "gzip"),
        ("br; q=0, gzip", "gzip"),
        ("BR;Q=0, GZIP", "gzip"),
        ("br;x=1;q=0, gzip;q=0.001", "gzip"),
        ("gzip;q=0.5, br;q=0.1", "br"),  # both acceptable: the smaller brotli variant wins
        ("*", "br"),
        ("*, br;q=0", "gzip"),
        ("deflate", None),
        ("identity", None),
        ("gzip;q=0", None),
        ("br;q=0, gzip;q=0", None),
        ("*;q=0", None),
    ],
)
def test_accept_encoding_selects_the_precompressed_bytes(
    feeds: Feeds, accept_encoding: str, coding: str | None
) -> None:
    artifact = feeds.publish("feeds/all.rss", feed_body())
    response = feeds.get("/feeds/all.rss", accept_encoding=accept_encoding)
    assert response.status == 200
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers.get("content-encoding") == coding
    expected = artifact.body if coding is None else getattr(artifact, coding)
    assert response.body == expected
    assert response.headers["content-length"] == str(len(expected))
    assert response.headers["content-type"] == "application/rss+xml; charset=utf-8"
    if coding:
        assert response.headers["etag"] == f'{artifact.etag[:-1]}-{coding}"'
    else:
        assert response.headers["etag"] == artifact.etag


def test_no_accept_encoding_gets_identity(feeds: Feeds) -> None:
    artifact = feeds.publish("feeds/all.rss", feed_body())
    response = feeds.get("/feeds/all.rss")
    assert response.body == artifact.body
    assert "content-encoding" not in response.headers


def test_jpeg_is_served_as_is_even_when_compression_is_accepted(feeds: Feeds) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 10
    feeds.publish("cards/a1.jpg", jpeg)
    response = feeds.get("/cards/a1.jpg", accept_encoding="br, gzip")
    assert response.body == jpeg
    assert "content-encoding" not in response.headers


def test_decoding_client_gets_the_original_bytes(feeds: Feeds) -> None:
    artifact = feeds.publish("feeds/all.rss", feed_body("ş"))
    for coding in ("br", "gzip"):
        response = feeds.client.get(
            f"{feeds.url}/{artifact.path}", headers={"accept-encoding": coding}
        )
        assert response.headers["content-encoding"] == coding
        assert response.content == artifact.body
