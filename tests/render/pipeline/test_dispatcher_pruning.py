"""Gone dispatchers leave the consumer group: a live dispatcher removes those that have not
tried to read for the claim idle time, once they hold nothing, and no other."""

from __future__ import annotations

import time

import redis

from services.render.pipeline.coordinator import Coordinator
from services.render.pipeline.dispatcher import Dispatcher
from services.render.pipeline.gone_consumers import GoneConsumers
from shared.kinds.registry import Registry
from shared.settings import Settings
from tests.conftest import wait_until

IDLE_MS = 300


def dispatcher(settings: Settings, name: str) -> Dispatcher:
    client = redis.Redis.from_url(settings.redis_url)
    registry = Registry.from_settings(settings)
    made = Dispatcher(
        client, Coordinator(client, settings), lambda _t: None, settings, name, registry
    )
    made.ensure_group()
    return made


def consumers(db: redis.Redis) -> dict[str, int]:
    return {c["name"]: c["pending"] for c in db.xinfo_consumers("nw:events", "render")}


def test_only_consumers_idle_past_the_time_and_holding_nothing_are_removed(
    settings, write, seed_article, db
):
    dispatcher(settings, "self").step(block_ms=10)  # idle too, but the caller
    write(seed_article)
    db.xreadgroup("render", "holder", {"nw:events": ">"}, count=10)  # read it, then died
    db.xreadgroup("render", "empty", {"nw:events": ">"}, count=10)  # nothing left to read
    time.sleep(IDLE_MS / 1000 + 0.1)
    db.xreadgroup("render", "fresh", {"nw:events": ">"}, count=10)  # alive: it just tried
    assert consumers(db) == {"self": 0, "holder": 1, "empty": 0, "fresh": 0}
    client = redis.Redis.from_url(settings.redis_url)
    removed = GoneConsumers(client).remove("nw:events", "render", IDLE_MS, keep="self")
    assert removed == ["empty"]
    assert consumers(db) == {"self": 0, "holder": 1, "fresh": 0}


def test_a_live_dispatcher_removes_a_dead_one_once_it_claimed_what_that_held(
    settings, write, seed_article, db
):
    fast = settings.model_copy(update={"claim_idle_ms": IDLE_MS})
    live = dispatcher(fast, "live")
    live.step(block_ms=10)
    write(seed_article)
    db.xreadgroup("render", "crashed", {"nw:events": ">"}, count=10)
    assert consumers(db) == {"live": 0, "crashed": 1}

    def removed() -> bool:
        live._next_claim = 0  # run the periodic claim now
        live.step(block_ms=10)
        return consumers(db) == {"live": 0}

    wait_until(removed, timeout=10 * IDLE_MS / 1000 + 10, interval=0.05)
    assert live.acked == 1  # what the crashed one held was handled, not dropped
    assert db.xpending("nw:events", "render")["pending"] == 0
