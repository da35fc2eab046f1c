"""The dispatcher against a real Redis: fan-out, acknowledgement, recovery and embargoes."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from kombu.exceptions import OperationalError

from services.render.pipeline.coordinator import Coordinator
from services.render.pipeline.dispatcher import Dispatcher
from shared.kinds.registry import Registry
from shared.priorities import URGENT
from shared.settings import Settings
from shared.state.sweeper import Sweeper
from tests.conftest import wait_until
from tests.counted_redis import counted_client


@pytest.fixture
def queued() -> list[str]:
    return []


def make_dispatcher(
    settings: Settings,
    queued: list[str],
    name: str = "d1",
    client: redis.Redis | None = None,
    **options: Any,
) -> Dispatcher:
    """A dispatcher sending to `queued`, on `client` or one of its own; `options` go to
    `Dispatcher` (promote, urgent_waiting…)."""
    client = client or redis.Redis.from_url(settings.redis_url)
    coordinator = Coordinator(client, settings)
    registry = Registry.from_settings(settings)
    dispatcher = Dispatcher(client, coordinator, queued.append, settings, name, registry, **options)
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


def test_a_step_takes_three_round_trips_with_events_and_two_without(
    settings, queued, write, db, seed_article, corpus
):
    """With events: the read, the marks with the urgent lists' lengths, and the due with the
    acknowledgement of what was read and the sweeper's turn. Without: the read, and the due
    with the lengths."""
    client, sent = counted_client(settings.redis_url)
    dispatcher = make_dispatcher(
        settings, queued, client=client, urgent_lists=["urgent-a", "urgent-b"]
    )
    write(seed_article)
    dispatcher.step(block_ms=10)  # the first step also reads what it left pending, and claims
    write(corpus[3])
    dispatcher._next_sweep = 0  # the sweeper's turn comes in this step
    # The claim and the trim (each a second) not in these steps, however slow the machine.
    dispatcher._next_claim = dispatcher._next_trim = time.monotonic() + 3600
    sent.clear()
    assert dispatcher.step(block_ms=10) == 1
    assert len(sent) == 3
    assert b"XREADGROUP" in sent[0]
    assert b"mark" in sent[1] and sent[1].count(b"LLEN") == 2
    sweep = Sweeper(db, settings).sweep_call().script.sha.encode()
    assert b"due" in sent[2] and sweep in sent[2] and b"XACK" in sent[2]
    assert b"LLEN" not in sent[2]  # asked once a step
    assert db.xpending("nw:events", "render")["pending"] == 0
    assert dispatcher.acked == dispatcher.read == 2
    sent.clear()
    assert dispatcher.step(block_ms=10) == 0
    assert len(sent) == 2
    assert b"due" in sent[1] and sent[1].count(b"LLEN") == 2 and b"XACK" not in sent[1]


def test_routine_builds_are_held_while_an_urgent_list_holds_tasks(
    settings, queued, write, db, seed_article
):
    slow = settings.model_copy(update={"build_promote_ms": 60_000})  # none promoted here
    dispatcher = make_dispatcher(slow, queued, urgent_lists=["urgent-a", "urgent-b"])
    db.rpush("urgent-b", "a task")
    write(seed_article)
    for _ in range(3):
        dispatcher.step(block_ms=10)
    assert "feed:section:dunya" in queued  # urgent builds are not held
    assert "feed:tag:nato" not in queued  # routine ones are, while a task waits ahead
    db.delete("urgent-b")
    dispatcher.step(block_ms=10)
    assert "feed:tag:nato" in queued
    assert len(queued) == len(set(queued))


def test_routine_builds_stay_held_behind_urgent_ones_sent_in_the_same_step(
    settings, queued, write, db, seed_article, corpus
):
    """The lists' lengths are read with the step's due, before it sends what came due: an
    urgent build sent then waits ahead of the held ones, though the lists were empty."""
    slow = settings.model_copy(update={"build_promote_ms": 60_000})  # none promoted here
    dispatcher = make_dispatcher(slow, queued, urgent_lists=["urgent-a", "urgent-b"])
    coordinator = Coordinator(redis.Redis.from_url(slow.redis_url), slow)
    db.rpush("urgent-b", "a task")
    write(seed_article)
    dispatcher.step(block_ms=10)
    section = "feed:section:dunya"
    coordinator.finish(section, coordinator.begin(section))  # built: hot for a window
    write(corpus[3])  # same section: it cools until its window ends
    dispatcher.step(block_ms=10)
    assert queued.count(section) == 1 and "feed:tag:nato" not in queued
    time.sleep(slow.debounce_window_max_ms / 1000 + 0.1)  # past the section's window
    db.delete("urgent-b")
    dispatcher.step(block_ms=10)
    assert queued.count(section) == 2
    assert "feed:tag:nato" not in queued  # held behind the section build just sent
    dispatcher.step(block_ms=10)  # the lists read empty, and nothing urgent is sent
    assert "feed:tag:nato" in queued


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


def test_a_failed_send_leaves_no_target_stranded_and_nothing_acknowledged(
    settings, queued, write, db, seed_article
):
    broker_down = threading.Event()
    broker_down.set()

    def enqueue(target: str) -> None:
        if broker_down.is_set() and len(queued) == 2:
            raise OperationalError("broker unavailable")
        queued.append(target)

    client = redis.Redis.from_url(settings.redis_url)
    registry = Registry.from_settings(settings)
    dispatcher = Dispatcher(
        client, Coordinator(client, settings), enqueue, settings, "d1", registry
    )
    dispatcher.ensure_group()
    write(seed_article)
    with pytest.raises(OperationalError):
        dispatcher.step(block_ms=10)
    assert db.xpending("nw:events", "render")["pending"] == 1  # not acknowledged
    sent = list(queued)
    marked = [key.removeprefix("nw:target:") for key in db.keys("nw:target:*")]
    unsent = [target for target in marked if target not in sent]
    assert len(sent) == 2 and len(unsent) == 7
    # Released, not left queued until a lease runs out.
    assert {db.hget(f"nw:target:{t}", "state") for t in unsent} == {"idle"}
    broker_down.clear()
    dispatcher._reread_pending = True  # as `run` does after a broker error
    dispatcher.step(block_ms=10)
    assert set(unsent) <= set(queued)
    assert len(queued) == len(set(queued)) == 9  # each target sent once in all
    assert db.xpending("nw:events", "render")["pending"] == 0


def test_a_queued_target_whose_task_was_lost_is_sent_again_but_not_one_waiting(
    settings, queued, db
):
    fast = settings.model_copy(update={"build_lease_ms": 100})
    ahead = {"feeds": 5}  # tasks waiting in the broker, by queue
    client = redis.Redis.from_url(settings.redis_url)
    registry = Registry.from_settings(settings)
    coordinator = Coordinator(client, fast)
    dispatcher = Dispatcher(
        client,
        coordinator,
        queued.append,
        fast,
        "d1",
        registry,
        lambda target: ahead.get(registry.queue(target), 0),
    )
    dispatcher.ensure_group()
    # Marked and sent; the task never starts (lost with a worker, or waiting its turn).
    assert coordinator.mark([("feed:all", "1-0"), ("sitemap:index", "1-0")]) == [
        "feed:all",
        "sitemap:index",
    ]
    time.sleep(0.15)
    dispatcher.step(block_ms=10)
    assert queued == ["sitemap:index"]  # nothing waits in its queue: its task was lost
    ahead["feeds"] = 0  # the queue drained and the feed's build never began
    time.sleep(0.15)
    dispatcher.step(block_ms=10)
    assert queued == ["sitemap:index", "feed:all", "sitemap:index"]


def test_routine_builds_due_while_urgent_ones_wait_are_held_then_sent_once_promoted(
    settings, queued, write, seed_article
):
    fast = settings.model_copy(update={"build_promote_ms": 100})
    registry = Registry.from_settings(fast)
    promoted: list[str] = []
    dispatcher = make_dispatcher(fast, queued, promote=promoted.extend, urgent_waiting=lambda: True)
    write(seed_article)
    dispatcher.step(block_ms=10)
    # The urgent ones go at once; the routine ones would only wait behind them.
    assert "feed:section:dunya" in queued and "feed:all" in queued
    assert {"feed:tag:nato", "feed:author:dis-haberler-servisi"}.isdisjoint(queued)
    # No worker takes anything: at the promotion delay the routine ones go, promoted.
    wait_until(lambda: dispatcher.step(block_ms=10) >= 0 and promoted, 5, backoff=False)
    assert "feed:tag:nato" in promoted and "feed:author:dis-haberler-servisi" in promoted
    assert {"feed:all", "feed:section:dunya"}.isdisjoint(promoted)
    assert all(registry.priority(target) != URGENT for target in promoted)
    # Cards have a queue of their own with nothing urgent in it: a copy would pass nothing.
    assert registry.queue("card:abc") not in registry.urgent_queues
    assert not any(target.startswith("card:") for target in promoted)
    count = len(promoted)
    time.sleep(0.2)
    dispatcher.step(block_ms=10)
    assert len(promoted) == count  # once
    # And no routine task of theirs was left behind in the broker, for a worker to skip.
    assert set(promoted).isdisjoint(queued)


def test_held_routine_builds_go_as_routine_once_urgent_ones_no_longer_wait(
    settings, queued, write, seed_article
):
    slow = settings.model_copy(update={"build_promote_ms": 60_000})  # none promoted here
    urgent = {"waiting": True}
    promoted: list[str] = []
    dispatcher = make_dispatcher(
        slow, queued, promote=promoted.extend, urgent_waiting=lambda: urgent["waiting"]
    )
    write(seed_article)
    for _ in range(3):
        dispatcher.step(block_ms=10)
    assert "feed:tag:nato" not in queued  # held while urgent builds wait
    urgent["waiting"] = False
    dispatcher.step(block_ms=10)
    assert {"feed:tag:nato", "feed:author:dis-haberler-servisi"} <= set(queued)
    assert promoted == []
    assert len(queued) == len(set(queued))  # each target sent once


def test_a_stopping_dispatcher_sends_what_it_holds(settings, queued, write, seed_article):
    slow = settings.model_copy(update={"build_promote_ms": 60_000})
    dispatcher = make_dispatcher(slow, queued, urgent_waiting=lambda: True)
    write(seed_article)
    dispatcher.step(block_ms=10)
    assert "feed:tag:nato" not in queued
    stop = threading.Event()
    stop.set()
    dispatcher.run(stop)
    assert "feed:tag:nato" in queued


def test_builds_held_by_a_lost_dispatcher_are_promoted_by_another(
    settings, queued, write, seed_article
):
    fast = settings.model_copy(update={"build_promote_ms": 100})
    lost = make_dispatcher(fast, queued, "lost", urgent_waiting=lambda: True)
    write(seed_article)
    lost.step(block_ms=10)
    assert "feed:tag:nato" not in queued  # held, and gone with its process
    promoted: list[str] = []
    other = make_dispatcher(
        fast, queued, "other", promote=promoted.extend, urgent_waiting=lambda: True
    )
    wait_until(lambda: other.step(block_ms=10) >= 0 and promoted, 5, backoff=False)
    assert "feed:tag:nato" in promoted


def test_a_routine_build_is_sent_again_only_once_urgent_builds_hold_it_back(
    settings, queued, write, seed_article
):
    fast = settings.model_copy(update={"build_promote_ms": 100})
    urgent = {"waiting": False}
    promoted: list[str] = []
    dispatcher = make_dispatcher(
        fast, queued, promote=promoted.extend, urgent_waiting=lambda: urgent["waiting"]
    )
    write(seed_article)
    dispatcher.step(block_ms=10)
    time.sleep(0.3)  # past the delay, twice over
    for _ in range(3):
        dispatcher.step(block_ms=10)
    assert promoted == []  # it waits behind older routine builds only
    urgent["waiting"] = True  # now urgent builds hold the worker
    wait_until(lambda: dispatcher.step(block_ms=10) >= 0 and promoted, 5, backoff=False)
    assert "feed:tag:nato" in promoted


def test_promoted_builds_still_waiting_at_the_deadline_go_again_urgently(
    settings, queued, write, seed_article
):
    fast = settings.model_copy(update={"build_promote_ms": 50, "build_deadline_ms": 200})
    promoted: list[str] = []
    hurried: list[str] = []
    dispatcher = make_dispatcher(
        fast, queued, promote=promoted.extend, hurry=hurried.extend, urgent_waiting=lambda: True
    )
    write(seed_article)
    dispatcher.step(block_ms=10)
    # No worker takes anything: promoted first, then, at the deadline, sent again urgently.
    wait_until(lambda: dispatcher.step(block_ms=10) >= 0 and promoted, 5, backoff=False)
    assert not hurried
    wait_until(lambda: dispatcher.step(block_ms=10) >= 0 and hurried, 5, backoff=False)
    assert sorted(hurried) == sorted(promoted)
    count = len(hurried)
    time.sleep(0.3)
    dispatcher.step(block_ms=10)
    assert len(hurried) == count  # once
