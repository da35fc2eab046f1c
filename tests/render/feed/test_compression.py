"""A feed's gzip made from the compressed entries of its previous builds
(`formats.gzipped`, `shared.store.segmented_gzip`): it must always read back as the body."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from typing import Any

import feedparser
import pytest

from services.render.feed.formats import ENTRY_CACHE, GZIP_GROUPS, RENDERERS, gzipped
from services.render.feed.model import FeedTarget, build_feed
from shared.article import Article
from shared.settings import Settings
from shared.store.artifacts import encode
from shared.store.segmented_gzip import Joined, compress_group, gzip_document
from tests.render.feed.feed_articles import articles

SETTINGS = Settings(feeds_base_url="https://feeds.example.com.tr/")
DUNYA = FeedTarget("section", "dunya")
SIZE = 30  # items in the feed: more than one group's worth of bytes


@pytest.fixture(autouse=True)
def empty_caches() -> Iterator[None]:
    ENTRY_CACHE.clear()
    GZIP_GROUPS.clear()
    yield
    ENTRY_CACHE.clear()
    GZIP_GROUPS.clear()


def story(seed: dict[str, Any], n: int, **fields: Any) -> dict[str, Any]:
    # Bodies of their own, so entries differ in more than their ids.
    body = "".join(f"<p>{n} paragraf {i}: {'kelime ' * (n % 7 + i)}</p>" for i in range(60))
    return {
        **seed,
        "id": f"haber-{n}",
        "url": f"https://haber.example.com.tr/dunya/haber-{n}",
        "comments_url": f"https://haber.example.com.tr/dunya/haber-{n}#yorumlar",
        "published_at": f"2026-01-18T{10 + n // 60:02d}:{n % 60:02d}:00+03:00",
        "updated_at": f"2026-01-18T{10 + n // 60:02d}:{n % 60:02d}:00+03:00",
        "body_html": body,
        **fields,
    }


def reads_back(compressed: bytes | None, body: bytes) -> None:
    assert compressed is not None
    assert gzip.decompress(compressed) == body
    # What HTTP clients use: one gzip member, nothing after it.
    reader = zlib.decompressobj(31)
    assert reader.decompress(compressed) + reader.flush() == body
    assert reader.eof
    assert reader.unused_data == b""


def publish_all(stories: list[Article]) -> dict[str, tuple[bytes, bytes]]:
    feed = build_feed(DUNYA, stories, "Dünya", SETTINGS)
    out = {}
    for fmt, render in RENDERERS.items():
        body = render(feed)
        out[fmt] = (body, gzipped(body))
        reads_back(out[fmt][1], body)
    return out


@pytest.mark.parametrize("fmt", list(RENDERERS))
def test_every_publish_reads_back_and_reuses_the_older_entries(fmt, seed_article):
    raw = [story(seed_article, n) for n in range(60)]
    sizes, reused = [], 0
    for top in range(SIZE, 60):  # one new article each build, the oldest drops off
        feed = build_feed(DUNYA, articles(raw[top - SIZE : top]), "Dünya", SETTINGS)
        body = RENDERERS[fmt](feed)
        assert isinstance(body, Joined)
        before = GZIP_GROUPS.get(body.key) or ()
        compressed = gzipped(body)
        reads_back(compressed, body)
        assert compressed is not None
        sizes.append(len(compressed) / len(gzip.compress(body, 6)))
        after = GZIP_GROUPS.get(body.key) or ()
        # The older entries' compressed bytes are reused, one place further down.
        reused += any(new.data and old.data.startswith(new.data) for old in before for new in after)
    assert reused == 60 - SIZE - 1  # every build but the first
    assert max(sizes) < 2  # entries compressed one by one would be about three times a gzip


def test_edits_takedowns_and_reorders_still_read_back(seed_article):
    raw = [story(seed_article, n) for n in range(30)]
    window = articles(raw[:SIZE])
    publish_all(window)
    # An article in the middle edited (same id, new title): its group no longer matches.
    edited = [
        *window[:5],
        *articles([{**story(seed_article, int(window[5].id.split("-")[1])), "title": "Yeni"}]),
        *window[6:],
    ]
    out = publish_all(edited)
    assert b"Yeni" in gzip.decompress(out["rss"][1])
    publish_all([*edited[:3], *edited[4:]])  # one taken down
    publish_all(edited[::-1])  # every entry moved
    publish_all([])  # an empty feed
    publish_all(articles(raw[20:21]))  # a single item
    first = publish_all(edited)
    for fmt, (body, _) in first.items():
        parsed = feedparser.parse(gzip.decompress(encode(f"feeds/a.{fmt}", body).gzip or b""))
        if fmt != "json":
            assert not parsed.bozo, parsed.bozo_exception
            assert len(parsed.entries) == len(edited)


def test_the_same_state_gives_the_same_gzip_bytes(seed_article):
    window = articles([story(seed_article, n) for n in range(SIZE)])
    first = publish_all(window)
    again = publish_all(articles([story(seed_article, n) for n in range(SIZE)]))
    assert first == again


def test_json_feed_splices_cached_items_as_orjson_writes_the_whole(seed_article):
    import orjson

    from services.render.feed import formats

    feed = build_feed(
        DUNYA, articles([story(seed_article, n) for n in range(5)]), "Dünya", SETTINGS
    )
    body = formats.render_json(feed)
    whole = json.loads(body)
    assert [item["id"] for item in whole["items"]] == [item.guid for item in feed.items]
    items = [formats._json_item(item) for item in feed.items]
    assert body == orjson.dumps({**whole, "items": items})
    empty = build_feed(DUNYA, [], "Dünya", SETTINGS)
    assert json.loads(formats.render_json(empty))["items"] == []


def test_a_group_cut_after_any_entry_is_a_stream_of_those_entries():
    entries = [f"<item>{n} {'abc' * n}</item>".encode() for n in range(20)]
    group = compress_group(entries)
    for count in range(1, len(entries) + 1):
        cut = group.prefix(count)
        reader = zlib.decompressobj(-15)
        assert reader.decompress(cut.data) == b"".join(entries[:count])
    # Two new entries on top, the last five gone: the group's first fifteen are reused.
    new = [b"<item>new one</item>", b"<item>new two</item>"]
    document = Joined(b"<head>", [*new, *entries[:15]], b"</tail>", ("doc",))
    compressed, groups = gzip_document(document, (group,), group_bytes=1000)
    reads_back(compressed, document)
    assert groups == (group.prefix(15),)
    assert group.data[: group.ends[14]] in compressed
    # Past `group_bytes`, the new entries become a group of their own.
    compressed, groups = gzip_document(document, groups, group_bytes=10)
    reads_back(compressed, document)
    assert len(groups) == 2 and groups[1] == group.prefix(15)
