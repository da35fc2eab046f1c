"""The dispatcher against a real Redis: fan-out, acknowledgement, recovery and embargoes."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis

from services.render.coordinator import Coordinator
from services.render.dispatcher import Dispatcher
from services.render.kinds import Registry
from shared.settings import Settings
from tests.conftest import wait_until


@pytest.fixture
def queued() -> list[str]:
    return []


def make_dispatcher(settings: Settings, queued: list[str], name: str = "d1") -> Dispatcher:
    client = redis.Redis.from_url(settings.redis_url)
    coordinator = Coordinator(client, settings)
    registry = Registry.from_settings(settings)
    dispatcher = Dispatcher(client, coordinator, queued.append, settings, name, registry)
    dispatcher.ensure_group()
    return dispatcher


def test_events_queue_each_target_once_and_are_acknowledged(
    settings, queued, write, db, seed_article, corpus
):
    dispatcher = make_dispatcher(settings, queued)
    write(seed_article)
    write(corpus[3])  # another Dünya article: same section, one build
    assert dispatcher.step(block_ms=10) == 2
    assert sorted(queued) == sorted(
        [
            "feed:all",
            "feed:section:dunya",
            "feed:tag:rusya",
            "feed:tag:sergey-lavrov",
            "feed:tag:nato",
            "feed:tag:agit",
            "feed:author:dis-haberler-servisi",
            "feed:index",
            "sitemap:2026-01",
        ]
    )
    assert db.xpending("nw:events", "render")["pending"] == 0


def test_entries_of_a_crashed_dispatcher_are_claimed(settings, queued, write, db, seed_article):
    fast = settings.model_copy(update={"claim_idle_ms": 100})
    crashed = make_dispatcher(fast, [], name="crashed")
    write(seed_article)
    # The crashed consumer read the entry and died before queueing or acknowledging.
    db.xreadgroup("render", "crashed", {"nw:events": ">"}, count=10)
    assert db.xpending("nw:events", "render")["pending"] == 1
    del crashed
    survivor = make_dispatcher(fast, queued, name="survivor")
    survivor.step(block_ms=10)
    time.sleep(0.15)
    survivor._next_claim = 0  # run the periodic claim now
    survivor.step(block_ms=10)
    assert "feed:section:dunya" in queued
    assert db.xpending("nw:events", "render")["pending"] == 0


def test_restarted_dispatcher_rereads_its_own_pending_entries(
    settings, queued, write, db, seed_article
):
    make_dispatcher(settings, [], name="d1")
    write(seed_article)
    db.xreadgroup("render", "d1", {"nw:events": ">"}, count=10)  # read, then crashed
    make_dispatcher(settings, queued, name="d1").step(block_ms=10)
    assert "feed:all" in queued
    assert db.xpending("nw:events", "render")["pending"] == 0


def test_malformed_event_is_skipped_and_acknowledged(settings, queued, db):
    dispatcher = make_dispatcher(settings, queued)
    db.xadd("nw:events", {"type": "article.published", "id": "x"})  # no rev, no targets
    assert dispatcher.step(block_ms=10) == 1
    assert queued == []
    assert db.xpending("nw:events", "render")["pending"] == 0


def test_embargo_is_released_once_and_never_early(settings, queued, write, db, seed_article):
    dispatcher = make_dispatcher(settings, queued)
    release_at = datetime.now(UTC) + timedelta(seconds=1.5)
    write({**seed_article, "published_at": release_at.isoformat(), "updated_at": None})
    dispatcher.step(block_ms=10)
    assert db.xlen("nw:events") == 1
    while datetime.now(UTC) < release_at - timedelta(milliseconds=200):
        dispatcher.step(block_ms=10)
        assert db.xlen("nw:events") == 1  # not yet
    time.sleep(0.4)
    for _ in range(3):
        dispatcher.step(block_ms=10)
    entries = db.xrange("nw:events")
    assert len(entries) == 2  # exactly one release
    assert entries[1][1]["type"] == "article.published"
    assert entries[1][1]["id"] == seed_article["id"]
    assert db.zcard("nw:sweep") == 0


def test_dispatcher_survives_redis_losing_the_stream(settings, queued, write, db, seed_article):
    dispatcher = make_dispatcher(settings, queued)
    db.flushall()  # as a restart without persistence would leave it
    stop = threading.Event()
    runner = threading.Thread(target=dispatcher.run, args=(stop,))
    runner.start()
    try:
        time.sleep(0.2)
        write(seed_article)
        wait_until(lambda: "feed:section:dunya" in queued, timeout=5)
    finally:
        stop.set()
        runner.join(timeout=5)
    assert not runner.is_alive()
