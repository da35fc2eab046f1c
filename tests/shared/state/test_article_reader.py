"""What builds read: the visible articles of a target, parsed once per version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from shared.state import redis_keys
from shared.state.article_reader import ArticleReader

TARGET = "feed:section:dunya"
TOMBSTONES_MS = 48 * 3600 * 1000  # how long a feed shows a retraction


def version(seed: dict[str, Any], n: int, edit: int = 0) -> dict[str, Any]:
    published = datetime.fromisoformat(seed["published_at"]) + timedelta(minutes=n)
    return {
        **seed,
        "id": f"okuma-{n}",
        "url": f"https://haber.example.com.tr/dunya/okuma-{n}",
        "title": f"Haber {n}" + (f" (güncelleme {edit})" if edit else ""),
        "published_at": published.isoformat(),
        "updated_at": (published + timedelta(minutes=edit)).isoformat(),
    }


def calls(client: redis.Redis, command: str) -> int:
    return int(client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


def redis_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return seconds * 1000 + micros // 1000


def document_reads(client: redis.Redis) -> int:
    """HMGETs Redis has served: how the reader fetches whole documents (and, in one more per
    call, the digests of every article it lists)."""
    return calls(client, "hmget")


def test_newest_first_and_documents_read_only_when_new_or_changed(
    settings, write, retract, seed_article
) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    for n in range(5):
        write(version(seed_article, n))
    reader = ArticleReader(client)

    first = reader.visible(TARGET, 3)
    assert [a.id for a in first] == ["okuma-4", "okuma-3", "okuma-2"]

    before, digest_reads = document_reads(client), calls(client, "hget")
    again = reader.visible(TARGET, 3)
    assert [a.title for a in again] == [a.title for a in first]
    # Every article parsed already, at its digest: the digests alone are read, all at once.
    assert document_reads(client) == before + 1
    assert calls(client, "hget") == digest_reads

    write(version(seed_article, 3, edit=1))
    before = document_reads(client)  # (writing reads too, inside its script)
    edited = reader.visible(TARGET, 3)
    assert [a.title for a in edited] == ["Haber 4", "Haber 3 (güncelleme 1)", "Haber 2"]
    assert document_reads(client) == before + 2  # the digests, and the changed one whole

    retract("okuma-4")
    assert [a.id for a in reader.visible(TARGET, 3)] == ["okuma-3", "okuma-2", "okuma-1"]


def test_a_fresh_reader_sees_what_a_warm_one_sees(settings, write, seed_article) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    for n in range(4):
        write(version(seed_article, n))
    warm = ArticleReader(client)
    warm.visible(TARGET, 10)
    write(version(seed_article, 1, edit=2))
    assert warm.visible(TARGET, 10) == ArticleReader(client).visible(TARGET, 10)


def test_the_digest_hash_follows_writes_and_takedowns(settings, write, retract, seed_article):
    db = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    write(version(seed_article, 0))
    stored = db.hget("nw:article:okuma-0", "hash")
    assert db.hget(redis_keys.DIGESTS, "okuma-0") == stored
    write(version(seed_article, 0, edit=1))
    edited = db.hget("nw:article:okuma-0", "hash")
    assert edited != stored
    assert db.hget(redis_keys.DIGESTS, "okuma-0") == edited
    retract("okuma-0")
    assert db.hget(redis_keys.DIGESTS, "okuma-0") is None
    write(version(seed_article, 0, edit=2))  # back after the takedown
    assert db.hget(redis_keys.DIGESTS, "okuma-0") == db.hget("nw:article:okuma-0", "hash")


def test_articles_stored_before_the_digest_hash_are_read_from_their_own(
    settings, write, seed_article
) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    for n in range(4):
        write(version(seed_article, n))
    # As an older release left them: no entry in the digest hash for two of them.
    client.hdel(redis_keys.DIGESTS, "okuma-1", "okuma-3")
    reader = ArticleReader(client)
    assert [a.id for a in reader.visible(TARGET, 10)] == [f"okuma-{n}" for n in (3, 2, 1, 0)]
    write(version(seed_article, 1, edit=1))  # written again: in the digest hash from now on
    client.hdel(redis_keys.DIGESTS, "okuma-1")
    titles = [a.title for a in reader.visible(TARGET, 10)]
    assert titles == ["Haber 3", "Haber 2", "Haber 1 (güncelleme 1)", "Haber 0"]
    assert [a.title for a in ArticleReader(client).visible(TARGET, 10)] == titles


def test_embargoed_articles_leave_no_gap_in_the_newest(settings, write, seed_article) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    for n in range(4):
        write(version(seed_article, n))
    release = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    embargoed = {**version(seed_article, 9), "published_at": release.isoformat()}
    write({**embargoed, "updated_at": None})
    # The embargoed one is the newest in the index, and still not among the visible three.
    assert client.zrevrange(redis_keys.index(TARGET), 0, 0) == [b"okuma-9"]
    reader = ArticleReader(client)
    assert [a.id for a in reader.visible(TARGET, 3)] == ["okuma-3", "okuma-2", "okuma-1"]
    assert [a.id for a in reader.visible(TARGET, 10)] == [f"okuma-{n}" for n in (3, 2, 1, 0)]


def test_a_feed_view_reads_articles_tombstones_and_name_together(
    settings, write, retract, seed_article
) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    for n in range(4):
        write(version(seed_article, n))
    release = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    write({**version(seed_article, 9), "published_at": release.isoformat(), "updated_at": None})
    before_takedown = redis_ms(client)
    retract("okuma-0")
    tombstones = redis_keys.RETRACTED.format(target=TARGET)
    client.zadd(tombstones, {"expired": redis_ms(client) - 49 * 3600 * 1000})
    reader = ArticleReader(client)

    view = reader.feed_view(TARGET, 10, TOMBSTONES_MS, {TARGET: "Dünya Masası"})
    after_view = redis_ms(client)

    assert [a.id for a in view.articles] == ["okuma-3", "okuma-2", "okuma-1"]  # none embargoed
    assert [aid for aid, _ in view.retractions] == ["okuma-0"]
    # By Redis's clock: retracted after `before_takedown`, the view read before `after_view`.
    assert before_takedown <= view.retractions[0][1] <= view.now_ms <= after_view
    assert client.zscore(tombstones, "expired") is None  # an expired tombstone is dropped
    assert view.name == "Dünya Masası"  # configured: above the site's own name, below an admin's
    # Warm: the digests are read (inside the script), no document.
    before = document_reads(client)
    assert reader.feed_view(TARGET, 10, TOMBSTONES_MS).articles == view.articles
    assert document_reads(client) == before + 1
    client.hset(redis_keys.ADMIN_NAMES, TARGET, "Dış Haberler")
    assert reader.feed_view(TARGET, 10, TOMBSTONES_MS, {TARGET: "Dünya Masası"}).name == (
        "Dış Haberler"
    )


def test_unchanged_tells_edits_takedowns_and_new_articles(
    settings, write, retract, seed_article
) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    for n in range(3):
        write(version(seed_article, n))
    reader = ArticleReader(client)

    view = reader.feed_view(TARGET, 2, TOMBSTONES_MS)
    assert reader.unchanged(TARGET, 2, view.seen)
    write(version(seed_article, 0, edit=1))  # below the newest two: not shown
    assert reader.unchanged(TARGET, 2, view.seen)
    write(version(seed_article, 2, edit=1))
    assert not reader.unchanged(TARGET, 2, view.seen)

    view = reader.feed_view(TARGET, 2, TOMBSTONES_MS)
    retract("okuma-2")
    assert not reader.unchanged(TARGET, 2, view.seen)

    view = reader.feed_view(TARGET, 2, TOMBSTONES_MS)
    write(version(seed_article, 5))
    assert not reader.unchanged(TARGET, 2, view.seen)
    assert reader.unchanged(TARGET, 2, reader.feed_view(TARGET, 2, TOMBSTONES_MS).seen)
