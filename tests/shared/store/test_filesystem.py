"""Filesystem store: files laid out like URLs, atomic replaces, never a partial read."""

from __future__ import annotations

import gzip
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import brotli

from shared.store.artifacts import encode
from shared.store.filesystem import FilesystemStore

RSS = "feeds/sections/dunya.rss"


def test_files_are_laid_out_like_urls(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    artifact = encode(RSS, b"<rss>d</rss>" * 50, 5)
    assert store.publish("feed:section:dunya", [artifact], "1-0")
    assert (tmp_path / RSS).read_bytes() == artifact.body
    assert (tmp_path / (RSS + ".gz")).read_bytes() == artifact.gzip
    assert (tmp_path / (RSS + ".br")).read_bytes() == artifact.br
    assert not list((tmp_path / ".state" / "tmp").iterdir())  # no temporary file left


def test_bookkeeping_is_never_served_or_listed(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    assert store.publish("feed:all", [encode("feeds/all.rss", b"<rss/>", 5)], "1-0")
    assert (tmp_path / ".state" / "watermarks" / "feed%3Aall").read_text() == "1-0"
    assert store.get(".state/watermarks/feed%3Aall") is None
    assert store.paths("") == ["feeds/all.rss"]


def test_watermark_survives_a_restart(tmp_path: Path) -> None:
    assert FilesystemStore(tmp_path).publish("feed:all", [encode("feeds/all.rss", b"n", 5)], "9-0")
    restarted = FilesystemStore(tmp_path)
    assert restarted.publish("feed:all", [encode("feeds/all.rss", b"o", 5)], "5-0") is False
    assert restarted.get("feeds/all.rss").body == b"n"  # type: ignore[union-attr]


def test_a_watermark_torn_by_a_crash_counts_as_none(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    assert store.publish("feed:all", [encode("feeds/all.rss", b"n", 5)], "9-0")
    mark = tmp_path / ".state" / "watermarks" / "feed%3Aall"
    mark.write_bytes(b"17651\xff")  # cut off mid-write
    assert store.publish("feed:all", [encode("feeds/all.rss", b"o", 5)], "5-0")
    assert mark.read_text() == "5-0"
    # A shorter id written over a longer one leaves nothing of the longer behind.
    assert store.publish("feed:all", [encode("feeds/all.rss", b"p", 5)], "12345678-10")
    assert store.publish("feed:all", [encode("feeds/all.rss", b"q", 5)], "99999999-0")
    assert mark.read_text() == "99999999-0"
    assert store.publish("feed:all", [encode("feeds/all.rss", b"r", 5)], "12345678-11") is False


def test_bookkeeping_cleared_while_running_is_made_again(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    assert store.publish("feed:all", [encode("feeds/all.rss", b"n", 5)], "9-0")
    shutil.rmtree(tmp_path / ".state")
    assert store.publish("feed:all", [encode("feeds/all.rss", b"o", 5)], "5-0")
    assert store.get("feeds/all.rss").body == b"o"


def test_another_process_sees_a_publish_on_the_next_get(
    fs_store_factory: Callable[[], FilesystemStore],
) -> None:
    reader, writer = fs_store_factory(), fs_store_factory()
    for i in range(20):
        assert writer.publish("feed:all", [encode("feeds/all.rss", b"v%d" % i, 5)], f"{i}-0")
        got = reader.get("feeds/all.rss")
        assert got is not None
        assert got.body == b"v%d" % i
        assert gzip.decompress(got.gzip) == got.body  # type: ignore[arg-type]


def test_variant_from_another_build_is_not_served(tmp_path: Path) -> None:
    # A crash between writing the variants and the plain file leaves them out of step.
    store = FilesystemStore(tmp_path)
    assert store.publish("feed:all", [encode("feeds/all.rss", b"<rss>old</rss>", 5)], "1-0")
    (tmp_path / "feeds/all.rss.gz").write_bytes(gzip.compress(b"<rss>newer</rss>"))
    got = FilesystemStore(tmp_path).get("feeds/all.rss")
    assert got is not None
    assert got.body == b"<rss>old</rss>"
    assert got.gzip is None
    assert got.br is not None
    assert brotli.decompress(got.br) == got.body


def test_a_gzip_variant_is_served_only_if_it_holds_the_very_body(tmp_path: Path) -> None:
    body = b"<rss>old</rss>"
    store = FilesystemStore(tmp_path)
    assert store.publish("feed:all", [encode("feeds/all.rss", body, 5)], "1-0")
    gz = tmp_path / "feeds/all.rss.gz"
    for stray in (
        gzip.compress(b"<rss>odd</rss>"),  # another build's body of the same length
        gzip.compress(body)[:-1],  # cut short
        b"\x00" * 40,  # no gzip at all
    ):
        gz.write_bytes(stray)
        got = FilesystemStore(tmp_path).get("feeds/all.rss")
        assert got is not None and got.body == body and got.gzip is None
    gz.write_bytes(gzip.compress(body, 1))  # any gzip of the body will do
    got = FilesystemStore(tmp_path).get("feeds/all.rss")
    assert got is not None and gzip.decompress(got.gzip) == body


RACES = 50  # publishes, and reads, of the same file by two stores at once


def test_reader_never_sees_a_partial_file(fs_store_factory: Callable[[], FilesystemStore]) -> None:
    size = 2 * 1024 * 1024
    bodies = (b"a" * size, b"b" * size)
    artifacts = [encode(RSS, body, 5) for body in bodies]
    writer, reader = fs_store_factory(), fs_store_factory()
    assert writer.publish("feed:section:dunya", [artifacts[0]], "0-0")

    stop = threading.Event()
    seen: dict[bytes, int] = {b"a": 0, b"b": 0}
    variants_seen = 0
    problems: list[str] = []

    def read() -> None:
        nonlocal variants_seen
        while not stop.is_set():
            got = reader.get(RSS)
            if got is None or got.body not in bodies:
                problems.append(f"partial or missing body: {got and len(got.body)}")
                continue
            seen[got.body[:1]] += 1
            for data, decompress in ((got.gzip, gzip.decompress), (got.br, brotli.decompress)):
                if data is not None:
                    variants_seen += 1
                    if decompress(data) != got.body:
                        problems.append("variant does not match its body")

    def raced_enough() -> bool:  # counts, not time: as many races on any machine
        return i > RACES and seen[b"a"] + seen[b"b"] >= RACES and min(seen.values()) > 1

    thread = threading.Thread(target=read)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        i = 1
        while not raced_enough() and not problems:
            assert time.monotonic() < deadline, f"{i} publishes, {seen} reads in 60 s"
            assert writer.publish("feed:section:dunya", [artifacts[i % 2]], f"{i}-0")
            i += 1
            time.sleep(0.002)
    finally:
        stop.set()
        thread.join()
    assert problems == []
    assert variants_seen > 0


def test_a_reader_writes_nothing(tmp_path: Path) -> None:
    # The feeds service mounts the artifacts read-only: reading must not need a write.
    FilesystemStore(tmp_path).publish("feed:all", [encode("feeds/all.rss", b"<rss/>", 5)], "1-0")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    reader = FilesystemStore(tmp_path)
    assert reader.get("feeds/all.rss") is not None
    assert not reader.gone("feeds/all.rss")
    assert reader.paths("feeds/") == ["feeds/all.rss"]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    empty = FilesystemStore(tmp_path / "fresh")
    assert empty.get("feeds/all.rss") is None
    assert not (tmp_path / "fresh").exists()


def test_with_a_recheck_interval_memory_answers_until_it_passes(tmp_path: Path) -> None:
    writer, reader = FilesystemStore(tmp_path), FilesystemStore(tmp_path, recheck_ms=300)
    assert writer.publish("feed:all", [encode("feeds/all.rss", b"<rss>1</rss>", 5)], "1-0")
    asked = time.monotonic()  # no later than the reader's look at the disk
    assert reader.get("feeds/all.rss").body == b"<rss>1</rss>"  # type: ignore[union-attr]
    looked = time.monotonic()  # and no earlier
    assert writer.publish("feed:all", [encode("feeds/all.rss", b"<rss>2</rss>", 5)], "2-0")
    while True:  # within the interval the disk is not asked
        body = reader.get("feeds/all.rss").body  # type: ignore[union-attr]
        if time.monotonic() >= asked + 0.3:
            break  # the interval may have ended during that read: it proves nothing
        assert body == b"<rss>1</rss>"
    time.sleep(max(0.0, looked + 0.3 - time.monotonic()))
    assert reader.get("feeds/all.rss").body == b"<rss>2</rss>"  # type: ignore[union-attr]
    assert writer.delete("feed:all", ["feeds/all.rss"], "3-0")
    time.sleep(0.35)
    assert reader.get("feeds/all.rss") is None


def test_with_a_recheck_interval_own_writes_show_at_once(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path, recheck_ms=60_000)
    assert store.publish("feed:all", [encode("feeds/all.rss", b"<rss>1</rss>", 5)], "1-0")
    assert store.get("feeds/all.rss").body == b"<rss>1</rss>"  # type: ignore[union-attr]
    assert store.publish("feed:all", [encode("feeds/all.rss", b"<rss>2</rss>", 5)], "2-0")
    served = store.get("feeds/all.rss")
    assert served is not None and served.body == b"<rss>2</rss>"
    assert served.gzip is not None and gzip.decompress(served.gzip) == served.body
    assert served.modified == (tmp_path / "feeds/all.rss").stat().st_mtime
    assert store.delete("feed:all", ["feeds/all.rss"], "3-0")
    assert store.get("feeds/all.rss") is None
