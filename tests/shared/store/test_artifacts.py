"""Artifacts: precompressed variants, content types, path safety and ETags."""

from __future__ import annotations

import gzip

import brotli
import pytest

from shared.store.artifacts import Artifact, content_type, encode, safe_path

FEED = ("<?xml version='1.0' encoding='UTF-8'?><rss><channel><title>Dünya</title>" * 200).encode()


def test_encode_variants_decompress_to_the_body() -> None:
    artifact = encode("feeds/sections/dunya.rss", FEED, 5)
    assert artifact.body == FEED
    assert artifact.gzip is not None
    assert artifact.br is not None
    assert gzip.decompress(artifact.gzip) == FEED
    assert brotli.decompress(artifact.br) == FEED
    assert len(artifact.gzip) < len(FEED)
    assert len(artifact.br) < len(FEED)


def test_quality_zero_writes_no_brotli_variant() -> None:
    artifact = encode("feeds/sections/dunya.rss", FEED, 0)
    assert artifact.br is None
    assert artifact.gzip is not None
    assert gzip.decompress(artifact.gzip) == FEED


def test_encode_is_deterministic() -> None:
    # Same input, same bytes: no gzip timestamp sneaks in, so rebuilds don't churn.
    first = encode("feeds/all.atom", FEED, 5)
    second = encode("feeds/all.atom", FEED, 5)
    assert (first.gzip, first.br) == (second.gzip, second.br)


def test_jpeg_is_not_compressed() -> None:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40
    artifact = encode("cards/abc.jpg", jpeg, 5)
    assert artifact.body == jpeg
    assert artifact.gzip is None
    assert artifact.br is None
    assert artifact.content_type == "image/jpeg"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("feeds/all.rss", "application/rss+xml; charset=utf-8"),
        ("feeds/all.atom", "application/atom+xml; charset=utf-8"),
        ("feeds/all.json", "application/feed+json; charset=utf-8"),
        ("sitemaps/news.xml", "application/xml; charset=utf-8"),
        ("cards/a.html", "text/html; charset=utf-8"),
        ("cards/a.jpg", "image/jpeg"),
        ("misc/a.bin", "application/octet-stream"),
        ("noextension", "application/octet-stream"),
    ],
)
def test_content_type_by_extension(path: str, expected: str) -> None:
    assert content_type(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "../x",
        "..",
        ".",
        "/etc/passwd",
        "a/../../b",
        "a/../b",
        "feeds/./all.rss",
        "feeds//all.rss",
        "feeds/",
        ".watermarks/x",
        ".state/watermarks/feed%3Aall",
        ".hidden",
        ".locks/feed_all",
        "feeds/..",
        "cards/../x.jpg",
        "a\\b",
        "..\\..\\windows",
        "a\x00b",
        "",
    ],
)
def test_safe_path_refuses_traversal_and_bookkeeping(path: str) -> None:
    assert safe_path(path) is None


@pytest.mark.parametrize(
    "path",
    [
        "feeds/sections/dunya.rss",
        "sitemap.xml",
        "cards/dunya-2026:01.jpg",
        # Article ids may contain ":" and start with ".": their cards must have paths.
        "cards/.abc.jpg",
        "cards/..jpg",
        "cards/...html",
        "cards/a:b:c.html",
    ],
)
def test_safe_path_accepts_artifact_paths(path: str) -> None:
    assert safe_path(path) == path


def test_etag_is_strong_and_stable() -> None:
    first = encode("feeds/all.rss", FEED, 5)
    again = Artifact("feeds/all.rss", FEED, modified=123.0)
    assert first.etag.startswith('"')
    assert first.etag.endswith('"')
    assert not first.etag.startswith("W/")
    assert first.etag == again.etag
    assert encode("feeds/all.rss", FEED + b" ", 5).etag != first.etag
