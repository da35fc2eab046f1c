"""Odd request paths and symlinks: the feeds service answers 404 in its error shape, never 500,
and serves nothing that resolves outside the artifact tree.

Symlinks inside the tree are never followed, wherever they point: the store writes none, so
one found there was put there by something else (see `shared/store/filesystem.py`).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from services.feeds.app import create_app
from shared.settings import Settings
from shared.store.artifacts import Artifact, encode
from shared.store.filesystem import FilesystemStore
from tests.conftest import live_server
from tests.feeds.conftest import Feeds, feed_body

SECRET = b"root:x:0:0:secret outside the artifact tree\n"


def raw_get(base_url: str, target: bytes) -> tuple[int, bytes, bytes]:
    """GET `target` sent byte for byte (no client normalizes it): status, headers, body."""
    url = urlsplit(base_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as connection:
        connection.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, body


def assert_not_found(status: int, body: bytes) -> None:
    assert status == 404, body[:200]
    error = json.loads(body)["error"]
    assert (error["status"], error["code"], error["fields"]) == (404, "not_found", [])


ODD_PATHS = {
    "segment of 300 bytes": b"feeds/" + b"a" * 300 + b".rss",
    "segment of 300 bytes, percent-encoded": b"feeds/" + b"%61" * 300 + b".rss",
    "segment of 256 bytes": b"cards/" + b"b" * 252 + b".jpg",
    "segment of 150 two-byte letters": b"feeds/tags/" + b"%c5%9f" * 150 + b".rss",
    "percent-encoded NUL": b"feeds/all.rss%00",
    "percent-encoded NUL mid-path": b"feeds/%00/all.rss",
    "lone percent sign": b"feeds/%",
    "truncated escape": b"feeds/all%2",
    "non-hex escape": b"feeds/%zz.rss",
    "invalid UTF-8 escape": b"feeds/%ff%fe.rss",
    "overlong UTF-8 escape of a slash": b"feeds%c0%afall.rss",
    "truncated UTF-8 escape": b"feeds/%e2%82.rss",
    "unpaired surrogate escape": b"feeds/%ed%a0%80.rss",
    "backslash": b"feeds\\all.rss",
    "encoded backslash": b"feeds%5call.rss",
    "dot-dot": b"feeds/../feeds/all.rss",
    "encoded dot-dot": b"feeds/%2e%2e/feeds/all.rss",
    "bookkeeping folder": b".state/watermarks/feed%3Aall",
    "10 KB of folders": b"a/" * 5_000,
    "10 KB name": b"c" * 10_240,
    "32 KB path": b"feeds/" + b"d/" * 16_000,
    "4,000 bytes of existing-looking folders": b"feeds/" * 666 + b"all.rss",
    "bidi override": b"feeds/%e2%80%aeall.rss",
    "C1 control": b"feeds/%c2%85all.rss",
}


@pytest.mark.parametrize("target", ODD_PATHS.values(), ids=ODD_PATHS.keys())
def test_odd_paths_are_404_in_the_error_shape(feeds: Feeds, target: bytes) -> None:
    feeds.publish("feeds/all.rss", feed_body())
    status, _, body = raw_get(feeds.url, b"/" + feeds.prefix.encode() + target)
    assert_not_found(status, body)
    # The same path under HEAD, and from the root of the store (no test prefix).
    status, _, body = raw_get(feeds.url, b"/" + target)
    assert_not_found(status, body)


@pytest.mark.parametrize(
    "target", [b"/feeds/all.rss\x00", b"/feeds/\x01x", b"/feeds/\xff.rss", b"/" + b"f/" * 40_000]
)
def test_requests_the_http_parser_refuses_are_400_not_500(feeds: Feeds, target: bytes) -> None:
    # A raw NUL, control byte, non-ASCII byte or an 80 KB request line is not HTTP: uvicorn's
    # parser answers 400 before any route sees it. The service must go on serving.
    artifact = feeds.publish("feeds/all.rss", feed_body())
    status, _, _ = raw_get(feeds.url, target)
    assert status == 400
    assert feeds.get("feeds/all.rss").body == artifact.body


def test_a_name_of_252_bytes_is_served(feeds: Feeds) -> None:
    # The longest name the store can write beside its ".gz" and ".br" variants (255 bytes).
    name = "e" * 248 + ".rss"
    artifact = feeds.publish(f"feeds/{name}", feed_body(), target="feed:long")
    assert feeds.get(f"feeds/{name}").body == artifact.body


def test_the_service_keeps_serving_after_odd_paths(feeds: Feeds) -> None:
    artifact = feeds.publish("feeds/all.rss", feed_body("ok"))
    for target in ODD_PATHS.values():
        raw_get(feeds.url, b"/" + target)
    assert feeds.get("feeds/all.rss").body == artifact.body


@pytest.fixture
def tree(tmp_path: Path, feeds_settings: Settings) -> Iterator[tuple[str, Path, Path]]:
    """A feeds service over a filesystem store, its artifact folder, and a folder outside it."""
    root, outside = tmp_path / "artifacts", tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_bytes(SECRET)
    (outside / "feeds").mkdir()
    (outside / "feeds" / "all.rss").write_bytes(SECRET)
    store = FilesystemStore(root)
    assert store.publish("feed:all", [_artifact("feeds/all.rss")], "1-0")
    assert store.publish("card:a", [_artifact("cards/a.html")], "1-0")
    with live_server(
        create_app(feeds_settings.model_copy(update={"artifact_dir": root}), store)
    ) as url:
        yield url, root, outside
    store.close()


def _artifact(path: str) -> Artifact:
    return encode(path, feed_body(path), 5)


def test_a_symlink_to_a_file_outside_is_404(tree: tuple[str, Path, Path]) -> None:
    url, root, outside = tree
    os.symlink(outside / "passwd", root / "feeds" / "passwd.rss")
    os.symlink(outside / "passwd", root / "cards" / "b.html")
    for target in (b"/feeds/passwd.rss", b"/cards/b.html"):
        status, _, body = raw_get(url, target)
        assert_not_found(status, body)
        assert SECRET not in body


def test_a_symlinked_folder_pointing_outside_is_404(tree: tuple[str, Path, Path]) -> None:
    url, root, outside = tree
    os.symlink(outside, root / "sitemaps")
    os.symlink(outside / "feeds", root / "feeds" / "tags")
    for target in (b"/sitemaps/passwd", b"/sitemaps/feeds/all.rss", b"/feeds/tags/all.rss"):
        status, _, body = raw_get(url, target)
        assert_not_found(status, body)
        assert SECRET not in body


def test_a_symlink_pointing_inside_the_tree_is_404_too(tree: tuple[str, Path, Path]) -> None:
    # The documented choice: no symlink is followed, wherever it points.
    url, root, _ = tree
    os.symlink(root / "feeds" / "all.rss", root / "feeds" / "alias.rss")
    os.symlink("all.rss", root / "feeds" / "relative.rss")
    os.symlink(root / "feeds", root / "mirror")
    for target in (b"/feeds/alias.rss", b"/feeds/relative.rss", b"/mirror/all.rss"):
        assert_not_found(*raw_get(url, target)[::2])
    status, _, body = raw_get(url, b"/feeds/all.rss")
    assert status == 200 and body == feed_body("feeds/all.rss")


def test_a_file_swapped_for_a_symlink_after_caching_is_404(tree: tuple[str, Path, Path]) -> None:
    url, root, outside = tree
    assert raw_get(url, b"/feeds/all.rss")[0] == 200  # now in the memory cache
    (root / "feeds" / "all.rss").unlink()
    os.symlink(outside / "passwd", root / "feeds" / "all.rss")
    status, _, body = raw_get(url, b"/feeds/all.rss")
    assert_not_found(status, body)


def test_gone_markers_are_not_read_through_symlinks(tree: tuple[str, Path, Path]) -> None:
    url, root, outside = tree
    gone = root / ".state" / "gone" / "cards"
    gone.mkdir(parents=True)
    os.symlink(outside / "passwd", gone / "z.html")
    assert_not_found(*raw_get(url, b"/cards/z.html")[::2])


def test_the_artifact_folder_itself_may_be_a_symlink(
    tmp_path: Path, feeds_settings: Settings
) -> None:
    # Operators mount storage where they like: only names below the root are checked.
    real, link = tmp_path / "real", tmp_path / "link"
    FilesystemStore(real).publish("feed:all", [_artifact("feeds/all.rss")], "1-0")
    os.symlink(real, link)
    store = FilesystemStore(link)
    with live_server(create_app(feeds_settings, store)) as url:
        status, _, body = raw_get(url, b"/feeds/all.rss")
    assert status == 200 and body == feed_body("feeds/all.rss")
