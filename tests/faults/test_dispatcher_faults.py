"""Dispatchers killed mid-batch, and two at once: pending entries are claimed and processed,
nothing is acknowledged before its builds are queued, and no build is doubled."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from devstack.services import commands
from tests.conftest import Stack, make_stack, wait_until

pytestmark = pytest.mark.processes

SEED = int(os.environ.get("NEWSWIRE_TEST_SEED", random.randrange(1 << 30)))
BATCH = 150
# Deadlines for outcomes that take seconds (a process's start; a claim waits
# NEWSWIRE_CLAIM_IDLE_MS, 2 s here; a batch's 150 builds): many times that, to fail only
# when they never come.
START_DEADLINE_S = 60
CLAIM_DEADLINE_S = 60
BUILD_DEADLINE_S = 120


@pytest.fixture
def dispatch_stack(tmp_path: Path, redis_url: str) -> Iterator[Stack]:
    stack = make_stack(tmp_path, redis_url)
    yield stack
    stack.stop()


def batch(tag_prefix: str, rng: random.Random) -> list[dict]:
    """Articles that each have a tag of their own: that tag's feed is touched by one event."""
    sections = ["Dünya", "Gündem", "Ekonomi"]
    return [
        {
            "id": f"{tag_prefix}-{i}",
            "url": f"https://haber.example.com.tr/haber/{tag_prefix}-{i}",
            "title": f"Haber {tag_prefix} {i}: Şansımız var",
            "section": rng.choice(sections),
            "tags": [f"Etiket {tag_prefix} {i}"],
            "authors": [{"name": "Dış Haberler Servisi"}],
            "published_at": f"2025-05-{1 + i % 28:02d}T10:00:00+03:00",
        }
        for i in range(BATCH)
    ]


def own_targets(tag_prefix: str) -> list[str]:
    return [f"feed:tag:etiket-{tag_prefix}-{i}" for i in range(BATCH)]


def post(stack: Stack, articles: list[dict]) -> None:
    response = stack.http.post(f"{stack.ingest_url}/v1/articles:batch", json={"articles": articles})
    assert response.status_code == 200


def builds_of(db: redis.Redis, targets: list[str]) -> list[int]:
    return [int(db.hget(f"nw:target:{t}", "builds") or 0) for t in targets]


def all_built(db: redis.Redis, targets: list[str]) -> bool:
    for target in targets:
        want, done = db.hmget(f"nw:target:{target}", "want", "done")
        if want is None or want != done:
            return False
    return db.xpending("nw:events", "render")["pending"] == 0


def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check` until it is truthy; fail naming `what` if it is not within `timeout`."""
    try:
        return wait_until(check, timeout, interval=0.1)
    except pytest.fail.Exception:
        pytest.fail(f"never happened (waited {timeout} s): {what}")


def test_dispatchers_killed_mid_batch_and_running_two_at_once(dispatch_stack: Stack):
    print(f"\nseed {SEED} (replay: NEWSWIRE_TEST_SEED={SEED})")
    rng = random.Random(SEED)
    stack = dispatch_stack
    db = redis.Redis.from_url(stack.env["NEWSWIRE_REDIS_URL"], decode_responses=True)

    # One dispatcher: the baseline, each target of its own built exactly once.
    post(stack, batch("a", rng))
    eventually(lambda: all_built(db, own_targets("a")), BUILD_DEADLINE_S, "batch a all built")
    baseline = int(db.get("nw:builds"))
    assert builds_of(db, own_targets("a")) == [1] * BATCH

    # Two dispatchers; the one that reads the batch is killed before it acknowledges it.
    stack.processes.start("dispatcher-2", commands()["dispatcher"])
    consumers = {
        f"{os.uname().nodename}-{stack.processes.running[name].pid}": name
        for name in ("dispatcher", "dispatcher-2")
    }

    def reading_consumers() -> set[str]:
        return {c["name"] for c in db.xinfo_consumers("nw:events", "render")}

    # The second one is up and reading (a consumer of the group), then a seeded moment more.
    eventually(
        lambda: set(consumers) <= reading_consumers(), START_DEADLINE_S, "dispatcher-2 reading"
    )
    time.sleep(rng.uniform(0.0, 1.0))
    before = int(db.get("nw:builds"))
    post(stack, batch("b", rng))

    def reading() -> str | None:
        for consumer in db.xinfo_consumers("nw:events", "render"):
            if consumer["pending"] and consumer["name"] in consumers:
                return consumers[consumer["name"]]
        return None

    victim = wait_until(reading, timeout=10, interval=0.001)
    stack.processes.kill(victim)
    killed = time.monotonic()
    left = [c for c in db.xinfo_consumers("nw:events", "render") if c["pending"]]
    print(f"killed {victim} holding {sum(c['pending'] for c in left)} unacknowledged entries")
    eventually(
        lambda: db.xpending("nw:events", "render")["pending"] == 0,
        CLAIM_DEADLINE_S,
        f"the entries {victim} held claimed and acknowledged by the other",
    )
    claimed = time.monotonic() - killed
    eventually(lambda: all_built(db, own_targets("b")), BUILD_DEADLINE_S, "batch b all built")
    settled = time.monotonic() - killed

    counts = builds_of(db, own_targets("b"))
    after = int(db.get("nw:builds")) - before
    print(
        f"entries claimed {claimed:.2f} s after the kill; all built after {settled:.2f} s; "
        f"builds: {baseline} with one dispatcher, {after} with two and a kill; "
        f"own targets built twice: {counts.count(2)}"
    )
    assert min(counts) >= 1  # no event's target left unbuilt
    assert max(counts) <= 2  # built once more at most
    assert after <= 2 * baseline
