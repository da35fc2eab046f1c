"""Behaviour every artifact store backend shares: conditional publish, get, paths."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable

import brotli
import pytest

from shared.store import ArtifactStore
from shared.store.artifacts import encode

RSS = "feeds/sections/dunya.rss"


def body(text: str) -> bytes:
    return f"<rss><channel><title>{text}</title></channel></rss>".encode() * 20


def test_publish_then_get_returns_bytes_and_variants(store: ArtifactStore) -> None:
    artifact = encode(RSS, body("Dünya"), 5)
    before = time.time()
    assert store.publish("feed:section:dunya", [artifact], "1-0") is True
    got = store.get(RSS)
    assert got is not None
    assert got.path == RSS
    assert got.body == artifact.body
    assert got.gzip == artifact.gzip
    assert got.br == artifact.br
    assert gzip.decompress(got.gzip) == got.body
    assert brotli.decompress(got.br) == got.body
    assert got.etag == artifact.etag
    assert got.content_type == "application/rss+xml; charset=utf-8"
    assert before - 2 <= got.modified <= time.time() + 2


def test_publish_stores_every_artifact_of_a_target(store: ArtifactStore) -> None:
    artifacts = [encode(f"feeds/all.{ext}", body(ext), 5) for ext in ("rss", "atom", "json")]
    assert store.publish("feed:all", artifacts, "1-0")
    for artifact in artifacts:
        got = store.get(artifact.path)
        assert got is not None
        assert got.body == artifact.body


def test_jpeg_round_trips_without_variants(store: ArtifactStore) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 10
    assert store.publish("card:a1", [encode("cards/a1.jpg", jpeg, 5)], "1-0")
    got = store.get("cards/a1.jpg")
    assert got is not None
    assert (got.body, got.gzip, got.br) == (jpeg, None, None)


def test_older_watermark_is_refused_and_does_not_overwrite(store: ArtifactStore) -> None:
    assert store.publish("feed:section:dunya", [encode(RSS, body("new"), 5)], "9-0")
    assert store.publish("feed:section:dunya", [encode(RSS, body("old"), 5)], "5-0") is False
    got = store.get(RSS)
    assert got is not None
    assert got.body == body("new")
    assert gzip.decompress(got.gzip) == body("new")


def test_refused_publish_writes_none_of_its_artifacts(store: ArtifactStore) -> None:
    assert store.publish("feed:all", [encode("feeds/all.rss", body("new"), 5)], "9-0")
    stale = [encode("feeds/all.rss", body("old"), 5), encode("feeds/all.atom", body("old"), 5)]
    assert store.publish("feed:all", stale, "8-99") is False
    assert store.get("feeds/all.atom") is None
    assert store.paths("feeds/") == ["feeds/all.rss"]


def test_equal_watermark_is_allowed(store: ArtifactStore) -> None:
    assert store.publish("feed:section:dunya", [encode(RSS, body("first"), 5)], "9-0")
    assert store.publish("feed:section:dunya", [encode(RSS, body("second"), 5)], "9-0") is True
    assert store.get(RSS).body == body("second")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("9-0", "10-0"),  # numeric, not lexicographic
        ("9-2", "9-10"),
        ("1768729320000-0", "1768729320000-1"),  # real stream ids: 13-digit milliseconds
        ("1768729319999-99", "1768729320000-0"),
    ],
)
def test_watermarks_compare_as_stream_ids(store: ArtifactStore, older: str, newer: str) -> None:
    assert store.publish("feed:all", [encode("feeds/all.rss", body(newer), 5)], newer)
    assert store.publish("feed:all", [encode("feeds/all.rss", body(older), 5)], older) is False
    assert store.get("feeds/all.rss").body == body(newer)  # type: ignore[union-attr]
    assert store.publish("feed:all", [encode("feeds/all.rss", body("later"), 5)], newer)


def test_watermarks_are_per_target(store: ArtifactStore) -> None:
    assert store.publish("feed:section:dunya", [encode(RSS, body("d"), 5)], "9-0")
    gundem = encode("feeds/sections/gundem.rss", body("g"), 5)
    assert store.publish("feed:section:gundem", [gundem], "1-0") is True
    assert store.get("feeds/sections/gundem.rss").body == body("g")  # type: ignore[union-attr]


def test_same_bytes_keep_modified_stable(store: ArtifactStore) -> None:
    artifact = encode(RSS, body("same"), 5)
    assert store.publish("feed:section:dunya", [artifact], "1-0")
    first = store.get(RSS)
    assert first is not None
    time.sleep(0.05)
    assert store.publish("feed:section:dunya", [encode(RSS, body("same"), 5)], "2-0")
    again = store.get(RSS)
    assert again is not None
    assert again.modified == first.modified
    assert again.etag == first.etag
    time.sleep(0.05)
    assert store.publish("feed:section:dunya", [encode(RSS, body("changed"), 5)], "3-0")
    changed = store.get(RSS)
    assert changed is not None
    assert changed.body == body("changed")
    assert changed.modified > first.modified


def test_paths_lists_published_paths_by_prefix(store: ArtifactStore) -> None:
    published = {
        "feed:all": ["feeds/all.rss", "feeds/all.atom", "feeds/all.json"],
        "feed:section:dunya": ["feeds/sections/dunya.rss", "feeds/sections/dunya.atom"],
        "feed:tag:nato": ["feeds/tags/nato.rss"],
        "sitemap:index": ["sitemap.xml"],
        "card:a1": ["cards/a1.jpg"],
    }
    for target, paths in published.items():
        assert store.publish(target, [encode(p, body(p), 5) for p in paths], "1-0")
    feeds = sorted(p for paths in published.values() for p in paths if p.startswith("feeds/"))
    assert store.paths("feeds/") == feeds  # no .gz/.br variants, no bookkeeping files
    assert store.paths("feeds/sections/") == [
        "feeds/sections/dunya.atom",
        "feeds/sections/dunya.rss",
    ]
    assert store.paths("cards/") == ["cards/a1.jpg"]
    assert store.paths("nothing/") == []


def test_get_of_unknown_path_is_none(store: ArtifactStore) -> None:
    assert store.get("feeds/sections/yok.rss") is None
    assert store.publish("feed:all", [encode("feeds/all.rss", body("x"), 5)], "1-0")
    assert store.get("feeds/sections/yok.rss") is None
    assert store.get("feeds/all.atom") is None


@pytest.mark.parametrize(
    "path",
    [
        "../feeds/all.rss",
        "/feeds/all.rss",
        "feeds/../feeds/all.rss",
        ".watermarks/feed_all",
        "feeds",
        "feeds/all.rss.gz",  # a variant is part of its artifact, not one of its own
        "feeds/all.rss.br",
    ],
)
def test_get_refuses_unsafe_paths(store: ArtifactStore, path: str) -> None:
    assert store.publish("feed:all", [encode("feeds/all.rss", body("x"), 5)], "1-0")
    assert store.get(path) is None


def test_a_publish_is_read_back_at_once(store: ArtifactStore) -> None:
    # The store that published must not serve its own stale memory copy afterwards.
    for i in range(30):
        assert store.publish("feed:all", [encode("feeds/all.rss", body(str(i)), 5)], f"{i}-0")
        assert store.get("feeds/all.rss").body == body(str(i))  # type: ignore[union-attr]


def test_concurrent_publishers_leave_the_newest_watermark(
    store_factory: Callable[[], ArtifactStore],
) -> None:
    # Builds racing on one target from several processes: whatever the interleaving, the
    # artifact left behind is the one with the highest watermark.
    stores = [store_factory() for _ in range(4)]
    artifacts = {i: encode("feeds/all.rss", body(str(i)), 5) for i in range(40)}

    def run(worker: int) -> None:
        for i in range(worker, 40, 4):
            stores[worker].publish("feed:all", [artifacts[i]], f"{1000 + i}-0")

    threads = [threading.Thread(target=run, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    got = store_factory().get("feeds/all.rss")
    assert got is not None
    assert got.body == body("39")
    assert gzip.decompress(got.gzip) == body("39")


def test_delete_removes_an_artifact_with_its_variants(store: ArtifactStore) -> None:
    card = [encode("cards/a1.html", body("kart"), 5), encode("cards/a1.jpg", b"\xff\xd8jpg", 5)]
    assert store.publish("card:a1", card, "1-0")
    assert store.delete("card:a1", ["cards/a1.html", "cards/a1.jpg"], "2-0")
    assert store.get("cards/a1.html") is None
    assert store.get("cards/a1.jpg") is None
    assert store.paths("cards/") == []
    assert not store.gone("cards/a1.html")  # deleted, not taken down


def test_a_deletion_as_gone_is_remembered_until_published_again(store: ArtifactStore) -> None:
    assert store.publish("card:a1", [encode("cards/a1.html", body("kart"), 5)], "1-0")
    assert store.delete("card:a1", ["cards/a1.html"], "2-0", gone=True)
    assert store.get("cards/a1.html") is None
    assert store.gone("cards/a1.html")
    assert not store.gone("cards/a2.html")
    assert store.publish("card:a1", [encode("cards/a1.html", body("geri"), 5)], "3-0")
    assert not store.gone("cards/a1.html")
    assert store.get("cards/a1.html").body == body("geri")  # type: ignore[union-attr]


def test_an_older_delete_is_refused(store: ArtifactStore) -> None:
    assert store.publish("card:a1", [encode("cards/a1.html", body("yeni"), 5)], "9-0")
    assert store.delete("card:a1", ["cards/a1.html"], "5-0", gone=True) is False
    assert store.get("cards/a1.html").body == body("yeni")  # type: ignore[union-attr]
    assert not store.gone("cards/a1.html")


def test_a_delete_is_seen_by_another_reader(store_factory: Callable[[], ArtifactStore]) -> None:
    writer, reader = store_factory(), store_factory()
    assert writer.publish("card:a1", [encode("cards/a1.html", body("kart"), 5)], "1-0")
    assert reader.get("cards/a1.html") is not None
    assert writer.delete("card:a1", ["cards/a1.html"], "2-0", gone=True)
    deadline = time.monotonic() + 30  # many times what it takes: fails only if never heard
    while reader.get("cards/a1.html") is not None and time.monotonic() < deadline:
        time.sleep(0.01)  # the Redis store's readers hear of it by pub/sub
    assert reader.get("cards/a1.html") is None
    assert reader.gone("cards/a1.html")


def test_listing_gives_each_path_with_when_its_bytes_changed(store: ArtifactStore) -> None:
    before = time.time()
    assert store.publish("sitemap:2026-01", [encode("sitemaps/2026-01.xml", body("a"), 5)], "1-0")
    assert store.publish("sitemap:news", [encode("sitemaps/news.xml", body("n"), 5)], "1-0")
    listed = store.listing("sitemaps/")
    assert [item.path for item in listed] == ["sitemaps/2026-01.xml", "sitemaps/news.xml"]
    for item in listed:
        assert before - 2 <= item.modified <= time.time() + 2
        assert item.modified == store.get(item.path).modified  # type: ignore[union-attr]


@pytest.mark.parametrize(("first", "second"), [("a:b", "a_b"), ("a/b", "a%2Fb"), ("x", "X")])
def test_targets_never_share_a_watermark(store: ArtifactStore, first: str, second: str) -> None:
    assert store.publish(first, [encode("feeds/one.rss", body("1"), 5)], "9-0")
    assert store.publish(second, [encode("feeds/two.rss", body("2"), 5)], "1-0") is True


@pytest.mark.parametrize("article_id", [".abc", "..", "a:b:c", "-x_y.z"])
def test_every_valid_article_id_has_card_paths(store: ArtifactStore, article_id: str) -> None:
    paths = [f"cards/{article_id}.html", f"cards/{article_id}.jpg"]
    artifacts = [encode(path, body(path), 5) for path in paths]
    assert store.publish(f"card:{article_id}", artifacts, "1-0")
    for path in paths:
        assert store.get(path).body == body(path)  # type: ignore[union-attr]
    assert store.paths("cards/") == sorted(paths)
    assert store.delete(f"card:{article_id}", paths, "2-0", gone=True)
    assert all(store.gone(path) for path in paths)
