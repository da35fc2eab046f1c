"""The atomic write step: what it stores per target, and which targets its event names."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import redis.asyncio

from shared.article import Article
from shared.kinds.registry import Registry
from shared.state import redis_keys
from shared.state.article_writer import ArticleWriter
from shared.state.upsert_plan import PLAN_FIELDS, Known, Stored, Wanted, script_args

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


def test_the_index_is_named_only_by_a_write_that_names_a_feed(write, db, seed_article):
    write(seed_article)  # the first article of its feeds names them
    assert "feed:index" in last_event(db)["targets"]
    write({**seed_article, "id": "ikinci-haber"})  # the same feeds, named already
    assert last_event(db)["targets"] == TARGETS - {"feed:index"}
    write({**seed_article, "id": "ucuncu-haber", "tags": ["NATO", "Yeni Etiket"]})
    assert {"feed:tag:yeni-etiket", "feed:index"} <= last_event(db)["targets"]
    assert db.hget("nw:names", "feed:tag:yeni-etiket") == "Yeni Etiket"


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


def test_a_batch_writes_one_id_in_the_order_given(write_many, db, seed_article):
    later = {**seed_article, "title": "İkinci sürüm", "updated_at": "2026-01-18T12:00:00+03:00"}
    results = write_many([seed_article, later, seed_article, later])
    assert [(r.status, r.revision) for r in results] == [
        ("created", 1),
        ("updated", 2),
        ("stale", 2),
        ("unchanged", 2),
    ]
    assert db.xlen("nw:events") == 2
    assert json.loads(db.hget(f"nw:article:{seed_article['id']}", "doc"))["title"] == "İkinci sürüm"


def test_a_write_planned_against_an_older_revision_is_refused(settings, db, seed_article):
    # The writer plans from what it read; the script applies the plan only if the article's
    # revision is still that one, so a write that landed in between is never overwritten.
    first = Article.model_validate(seed_article, context={"default_language": "tr"})
    edited = {**seed_article, "title": "Arada", "updated_at": "2026-01-18T12:00:00+03:00"}
    between = Article.model_validate(edited, context={"default_language": "tr"})

    async def go() -> list:
        client = redis.asyncio.Redis.from_url(settings.redis_url)
        try:
            entries = Registry.from_settings(settings).entries
            writer = ArticleWriter(client, settings, entries)
            wanted = Wanted(first, "newsroom", *first.serialized(), entries(first, "newsroom"))
            nothing = Stored.read([None] * len(PLAN_FIELDS))  # as read before the first write
            stale = script_args(wanted, nothing, Known(), names_targets=False)
            keys = writer._upsert_keys(first.id)
            assert (await writer.upsert(between, "newsroom")).status == "created"
            return await writer._upsert(keys=keys, args=stale + redis_keys.target_families())
        finally:
            await client.aclose()

    status, revision, event_id = asyncio.run(go())
    assert (status, revision, event_id) == (b"moved", 1, b"")
    stored = db.hgetall(f"nw:article:{seed_article['id']}")
    assert (stored["rev"], json.loads(stored["doc"])["title"]) == ("1", "Arada")
    assert db.xlen("nw:events") == 1


def test_concurrent_writers_of_one_article_each_see_the_last_revision(settings, db, seed_article):
    # Writers on connections of their own, each sending a newer revision than the one before:
    # whatever the interleaving, every write lands once, on the revision another left.
    base = datetime.fromisoformat(seed_article["published_at"])
    versions = [
        Article.model_validate(
            {
                **seed_article,
                "title": f"Sürüm {n}",
                "updated_at": (base + timedelta(minutes=n)).isoformat(),
            },
            context={"default_language": "tr"},
        )
        for n in range(12)
    ]

    async def go() -> list:
        clients = [redis.asyncio.Redis.from_url(settings.redis_url) for _ in range(4)]
        try:
            entries = Registry.from_settings(settings).entries
            writers = [ArticleWriter(c, settings, entries) for c in clients]
            return await asyncio.gather(
                *(writers[n % 4].upsert(article, "newsroom") for n, article in enumerate(versions))
            )
        finally:
            for client in clients:
                await client.aclose()

    results = asyncio.run(go())
    written = sorted(r.revision for r in results if r.status in ("created", "updated"))
    assert written == list(range(1, len(written) + 1))  # each on the one before it
    assert {r.status for r in results} <= {"created", "updated", "stale"}
    stored = db.hgetall(f"nw:article:{seed_article['id']}")
    assert int(stored["rev"]) == len(written) == db.xlen("nw:events")
    newest = max(
        (v for v, r in zip(versions, results, strict=True) if r.status != "stale"),
        key=lambda v: v.modified,
    )
    assert json.loads(stored["doc"])["title"] == newest.title
    assert set(json.loads(stored["targets"])) == TARGETS
    assert db.hget(redis_keys.DIGESTS, seed_article["id"]) == stored["hash"]


def test_in_one_batch_the_first_article_in_a_new_feed_names_it(write_many, db, seed_article):
    first = {**seed_article, "tags": ["AGİT"]}
    second = {**seed_article, "id": "baska-haber", "tags": ["Agit"]}
    assert [r.status for r in write_many([first, second])] == ["created", "created"]
    assert db.hget("nw:names", "feed:tag:agit") == "AGİT"
    assert "feed:tag:agit" in db.smembers("nw:targets")


def test_a_server_that_lost_its_scripts_is_given_them_again(settings, db, seed_article):
    # Writes send EVALSHA alone (no SCRIPT EXISTS first); a server restarted without the
    # script answers NOSCRIPT, and the writer loads it and writes.
    article = Article.model_validate(seed_article, context={"default_language": "tr"})
    edited = Article.model_validate(
        {**seed_article, "title": "Yeniden", "updated_at": "2026-01-18T12:00:00+03:00"},
        context={"default_language": "tr"},
    )

    async def go() -> list[str]:
        client = redis.asyncio.Redis.from_url(settings.redis_url)
        try:
            writer = ArticleWriter(client, settings, Registry.from_settings(settings).entries)
            await client.script_flush()
            first = await writer.upsert(article, "newsroom")
            await client.script_flush()
            second = await writer.upsert_many([edited], "newsroom")
            return [first.status, second[0].status]
        finally:
            await client.aclose()

    assert asyncio.run(go()) == ["created", "updated"]
    assert json.loads(db.hget(f"nw:article:{seed_article['id']}", "doc"))["title"] == "Yeniden"
    assert db.xlen("nw:events") == 2
