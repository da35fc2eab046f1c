"""The sweeper against a real Redis: wakeups happen once, never early, by Redis's clock."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis

from shared.state.sweeper import Sweeper


@pytest.fixture
def sweeper(settings) -> Sweeper:
    return Sweeper(redis.Redis.from_url(settings.redis_url), settings)


def redis_ms(db) -> int:
    seconds, micros = db.time()
    return seconds * 1000 + micros // 1000


def test_a_target_wakes_once_and_not_before_its_time(sweeper, db):
    due = redis_ms(db) + 300
    sweeper.schedule("sitemap:news", due)
    result = sweeper.sweep()
    assert (result.due, db.xlen("nw:events")) == (0, 0)
    assert 0 < result.next_in_ms <= 300
    time.sleep(0.35)
    assert sweeper.sweep().due == 1
    [(_, event)] = db.xrange("nw:events")
    assert (event["type"], json.loads(event["targets"])) == ("targets.due", ["sitemap:news"])
    assert sweeper.sweep().due == 0
    assert sweeper.sweep().next_in_ms is None


def test_the_earliest_wakeup_of_a_target_wins(sweeper, db):
    now = redis_ms(db)
    sweeper.schedule("feed:all", now + 60_000)
    sweeper.schedule("feed:all", now + 10_000)
    sweeper.schedule("feed:all", now + 30_000)
    assert db.zscore("nw:sweep", "target:feed:all") == now + 10_000


def test_due_targets_share_one_event(sweeper, db):
    now = redis_ms(db)
    for target in ("sitemap:news", "feed:all", "feed:section:dunya"):
        sweeper.schedule(target, now - 1)
    assert sweeper.sweep().due == 3
    [(_, event)] = db.xrange("nw:events")
    assert set(json.loads(event["targets"])) == {"sitemap:news", "feed:all", "feed:section:dunya"}


def test_a_retracted_embargo_is_never_released(sweeper, write, retract, db, seed_article):
    release = datetime.now(UTC) + timedelta(milliseconds=200)
    write({**seed_article, "published_at": release.isoformat(), "updated_at": None})
    retract(seed_article["id"])  # which unschedules it; put it back, due, to prove the check
    db.zadd("nw:sweep", {f"release:{seed_article['id']}": redis_ms(db) - 1})
    before = db.xlen("nw:events")
    assert sweeper.sweep().released == 0
    assert db.xlen("nw:events") == before
