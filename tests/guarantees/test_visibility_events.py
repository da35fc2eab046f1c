"""Which targets a write names when an article's visibility changes (shared/state/lua/upsert.lua and
retract.lua): an embargoed article's writes change no output; crossing its publish time in
either direction by an update changes every output it is or was in; and taking down an
article still under embargo leaves nothing behind that would name it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import redis

from tests.guarantees.conftest import article, iso

ZONE = ZoneInfo("Europe/Istanbul")


def last_event(db: redis.Redis) -> tuple[str, set[str]]:
    fields = db.xrevrange("nw:events", count=1)[0][1]
    return fields["type"], set(json.loads(fields["targets"]) or [])


def targets_of(raw: dict) -> set[str]:
    month = datetime.fromisoformat(raw["published_at"]).astimezone(ZONE).strftime("%Y-%m")
    return {
        "feed:all",
        "feed:section:dunya",
        "feed:tag:nato",
        "feed:index",
        f"sitemap:{month}",
        "sitemap:news",
        f"card:{raw['id']}",
    }


def test_writes_name_targets_by_what_becomes_visible(write, db) -> None:
    now = datetime.now(UTC)
    later, earlier = now + timedelta(hours=1), now - timedelta(hours=1)
    hidden = article("gizli", later, title="Ambargolu", tags=("NATO",), updated=later)

    assert write(hidden).status == "created"
    assert last_event(db) == ("article.published", set())  # nothing shows it yet
    moved = {**hidden, "section": "Ekonomi", "title": "Ambargolu, düzeltildi"}
    moved["updated_at"] = iso(later + timedelta(minutes=1))
    assert write(moved).status == "updated"
    assert last_event(db) == ("article.updated", set())  # nor after it changed
    assert db.zscore("nw:sweep", "release:gizli") is not None

    # Re-dated into the past by an update: every output it is in shows it from now on, even
    # those whose entry (the sitemap's URL and lastmod) did not change.
    shown = {**hidden, "published_at": iso(earlier), "updated_at": iso(later + timedelta(2))}
    assert write(shown).status == "updated"
    assert last_event(db) == ("article.updated", targets_of(shown))
    assert db.zscore("nw:sweep", "release:gizli") is None  # released by this write, not again

    # Re-dated into the future again (and moved): every output it was in must drop it.
    again = {**shown, "published_at": iso(later), "section": "Ekonomi"}
    again["updated_at"] = iso(later + timedelta(3))
    assert write(again).status == "updated"
    was_and_is_in = targets_of(shown) | targets_of(again) | {"feed:section:ekonomi"}
    assert last_event(db) == ("article.updated", was_and_is_in)


def test_taking_down_an_embargoed_article_leaves_no_tombstone(write, retract, db) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    hidden = article("gizli-geri", later, title="Hiç yayımlanmadı", tags=("NATO",))
    assert write(hidden).status == "created"
    assert retract("gizli-geri").status == "retracted"
    assert last_event(db) == ("article.retracted", set())
    assert [key for key in db.scan_iter("nw:gone:*") if db.zscore(key, "gizli-geri")] == []
    assert db.zscore("nw:sweep", "release:gizli-geri") is None
    assert write(hidden).status == "stale"  # the takedown sticks

    shown = article("gorunen-geri", datetime.now(UTC) - timedelta(hours=1), title="Yayımlandı")
    assert write(shown).status == "created"
    assert retract("gorunen-geri").status == "retracted"
    kind, named = last_event(db)
    assert kind == "article.retracted" and "feed:all" in named
    assert db.zscore("nw:gone:feed:all", "gorunen-geri") is not None  # its Atom tombstone
