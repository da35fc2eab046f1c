"""The atomic write step: what it stores per target, and which targets its event names."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

TARGETS = {
    "feed:all",
    "feed:section:dunya",
    "feed:tag:rusya",
    "feed:tag:sergey-lavrov",
    "feed:tag:nato",
    "feed:tag:agit",
    "feed:author:dis-haberler-servisi",
    "feed:index",
    "sitemap:2026-01",
}


def last_event(db) -> dict:
    fields = db.xrevrange("nw:events", count=1)[0][1]
    return {**fields, "targets": set(json.loads(fields["targets"]))}


def test_a_new_article_names_every_target_that_shows_it(write, db, seed_article):
    assert write(seed_article).status == "created"
    event = last_event(db)
    assert (event["type"], event["id"], event["rev"]) == (
        "article.published",
        seed_article["id"],
        "1",
    )
    assert event["targets"] == TARGETS
    stored = json.loads(db.hget(f"nw:article:{seed_article['id']}", "targets"))
    assert set(stored) == TARGETS
    assert db.zscore("nw:idx:feed:section:dunya", seed_article["id"]) == 1768725720000
    assert db.hget("nw:names", "feed:tag:agit") == "AGİT"


def test_a_moved_article_names_its_old_targets_and_leaves_their_indexes(write, db, seed_article):
    write(seed_article)
    moved = {**seed_article, "section": "Gündem", "tags": ["Rusya"], "updated_at": None}
    moved["updated_at"] = "2026-01-18T12:00:00+03:00"
    assert write(moved).status == "updated"
    event = last_event(db)
    assert event["type"] == "article.updated"
    # The old section and dropped tags rebuild too; unchanged ones with the new content.
    assert {"feed:section:dunya", "feed:section:gundem", "feed:tag:nato"} <= event["targets"]
    assert db.zscore("nw:idx:feed:section:dunya", seed_article["id"]) is None
    assert db.zscore("nw:idx:feed:tag:nato", seed_article["id"]) is None
    assert db.zscore("nw:idx:feed:section:gundem", seed_article["id"]) is not None


def test_an_unchanged_article_appends_no_event(write, db, seed_article):
    write(seed_article)
    before = db.xlen("nw:events")
    assert write(seed_article).status == "unchanged"
    assert db.xlen("nw:events") == before


def test_retraction_empties_every_index_and_names_every_target(write, retract, db, seed_article):
    write(seed_article)
    assert retract(seed_article["id"]).status == "retracted"
    event = last_event(db)
    assert (event["type"], event["targets"]) == ("article.retracted", TARGETS)
    for target in TARGETS:
        assert db.zscore(f"nw:idx:{target}", seed_article["id"]) is None
    assert db.hget("nw:idxp:sitemap:2026-01#1", seed_article["id"]) is None
    assert db.hget("nw:shards:sitemap:2026-01", "1") == "0"  # its bytes are given back
    record = db.hgetall(f"nw:article:{seed_article['id']}")
    assert (record["retracted"], record["targets"]) == ("1", "{}")
    assert int(record["retracted_at"]) > 0


def test_an_embargo_is_scheduled_on_the_sweeper(write, retract, db, seed_article):
    release = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    write({**seed_article, "published_at": release.isoformat(), "updated_at": None})
    member = f"release:{seed_article['id']}"
    assert db.zscore("nw:sweep", member) == release.timestamp() * 1000
    retract(seed_article["id"])
    assert db.zscore("nw:sweep", member) is None


def test_an_article_stored_before_fingerprints_is_rewritten_whole(write, db, seed_article):
    write(seed_article)
    key = f"nw:article:{seed_article['id']}"
    # As an older release stored it: the target names alone, and the section index only.
    db.hset(key, "targets", json.dumps(["feed:all", "feed:section:eski"]))
    db.zadd("nw:idx:feed:section:eski", {seed_article["id"]: 1})
    assert write({**seed_article, "updated_at": "2026-01-18T12:00:00+03:00"}).status == "updated"
    assert last_event(db)["targets"] == TARGETS | {"feed:section:eski"}
    assert db.zscore("nw:idx:feed:section:eski", seed_article["id"]) is None
    assert set(json.loads(db.hget(key, "targets"))) == TARGETS


def test_an_article_published_again_after_a_takedown_leaves_no_tombstone(
    write, retract, db, seed_article
):
    # The write step clears a target's retraction record only for targets new to the
    # article (its last revision did not hold them); a takedown empties what it held.
    article_id, gone = seed_article["id"], "nw:gone:feed:tag:nato"
    write(seed_article)
    retract(article_id)
    assert db.zscore(gone, article_id) is not None
    without = {**seed_article, "tags": ["Rusya"], "updated_at": "2026-01-18T12:00:00+03:00"}
    assert write(without).status == "created"  # back, but no longer tagged NATO
    assert db.zscore(gone, article_id) is not None  # so NATO's feed keeps its tombstone
    assert db.zscore("nw:gone:feed:tag:rusya", article_id) is None
    again = {**seed_article, "updated_at": "2026-01-18T13:00:00+03:00"}
    assert write(again).status == "updated"  # tagged NATO again
    assert db.zscore(gone, article_id) is None
    assert db.zscore("nw:idx:feed:tag:nato", article_id) is not None


def test_a_feed_keeps_the_name_its_first_article_gave_it(write, db, seed_article):
    write({**seed_article, "tags": ["AGİT"]})
    later = {**seed_article, "id": "baska-haber", "tags": ["Agit", "Yeni Etiket"]}
    write(later)
    assert db.hget("nw:names", "feed:tag:agit") == "AGİT"
    assert db.hget("nw:names", "feed:tag:yeni-etiket") == "Yeni Etiket"
    untagged = {t for t in TARGETS if not t.startswith("feed:tag:")}
    expected = untagged | {"feed:tag:agit", "feed:tag:yeni-etiket"}
    assert set(db.smembers("nw:targets")) == expected


def test_an_embargoed_article_brought_forward_leaves_the_sweeper(write, db, seed_article):
    release = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    write({**seed_article, "published_at": release.isoformat(), "updated_at": None})
    member = f"release:{seed_article['id']}"
    assert db.zscore("nw:sweep", member) is not None
    later = (release + timedelta(minutes=1)).isoformat()
    assert write({**seed_article, "updated_at": later}).status == "updated"
    assert db.zscore("nw:sweep", member) is None
