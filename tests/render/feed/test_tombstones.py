"""RFC 6721 tombstones: a retracted article stays in its Atom feeds as at:deleted-entry for
48 hours, and the sweeper drops it then."""

from __future__ import annotations

import json
import time
from datetime import datetime

import feedparser
from lxml import etree

from shared.state.sweeper import Sweeper
from tests.render.building import build

NS = {"a": "http://www.w3.org/2005/Atom", "at": "http://purl.org/atompub/tombstones/1.0"}
GUID = "tag:haber.example.com.tr,2026:article:dunya-2026-01-18-lavrov-sansimiz-var"
DAY_MS = 86_400_000


def tombstones(ctx, path: str = "feeds/sections/dunya.atom") -> list[tuple[str, str]]:
    root = etree.fromstring(ctx.store.get(path).body)
    return [(t.get("ref"), t.get("when")) for t in root.iterfind("at:deleted-entry", NS)]


def test_a_retraction_is_a_tombstone_in_every_atom_feed_of_the_article(
    ctx, write, retract, seed_article
):
    write(seed_article)
    targets = ["feed:section:dunya", "feed:all", "feed:tag:nato"]
    for target in targets:
        build(ctx, target)
    asked = time.time()
    retract(seed_article["id"])
    answered = time.time()
    for target in targets:
        build(ctx, target)
    for path in ("feeds/sections/dunya.atom", "feeds/all.atom", "feeds/tags/nato.atom"):
        [(ref, when)] = tombstones(ctx, path)
        assert ref == GUID
        # Dated when it was retracted (to the second): after it was asked, before the answer.
        assert int(asked) <= datetime.fromisoformat(when).timestamp() <= answered, when
        assert datetime.fromisoformat(when).utcoffset().total_seconds() == 3 * 3600  # Istanbul
        parsed = feedparser.parse(ctx.store.get(path).body)
        assert not parsed.bozo and parsed.entries == []
    # The other formats have no tombstones: the item is simply gone.
    assert GUID.encode() not in ctx.store.get("feeds/sections/dunya.rss").body
    assert json.loads(ctx.store.get("feeds/sections/dunya.json").body)["items"] == []


def test_the_sweeper_drops_a_tombstone_48_hours_on(ctx, write, retract, seed_article, db, settings):
    write(seed_article)
    retract(seed_article["id"])
    # Time under the test's control: the retraction is dated 48 hours ago less one second.
    due = int(time.time() * 1000) + 1000
    db.zadd("nw:gone:feed:section:dunya", {seed_article["id"]: due - 2 * DAY_MS - 1})
    build(ctx, "feed:section:dunya")
    assert [ref for ref, _ in tombstones(ctx)] == [GUID]
    assert db.zscore("nw:sweep", "target:feed:section:dunya") == due
    sweeper = Sweeper(ctx.redis, settings)
    assert sweeper.sweep().due == 0  # not yet
    time.sleep(max(0, due / 1000 - time.time()) + 0.05)
    assert sweeper.sweep().due == 1
    event = db.xrevrange("nw:events", count=1)[0][1]
    assert json.loads(event["targets"]) == ["feed:section:dunya"]
    build(ctx, "feed:section:dunya")
    assert tombstones(ctx) == []
    assert db.zcard("nw:gone:feed:section:dunya") == 0  # the record is gone too


def test_an_article_brought_back_loses_its_tombstone(ctx, write, retract, seed_article):
    write(seed_article)
    retract(seed_article["id"])
    build(ctx, "feed:section:dunya")
    assert tombstones(ctx) != []
    write({**seed_article, "updated_at": "2026-01-18T13:00:00+03:00"})
    build(ctx, "feed:section:dunya")
    assert tombstones(ctx) == []
    assert [
        e.id for e in feedparser.parse(ctx.store.get("feeds/sections/dunya.atom").body).entries
    ] == [GUID]
