"""The per-target state machine that bounds builds, against a real Redis."""

from __future__ import annotations

import time

import pytest
import redis

from services.render.pipeline import last_builds
from services.render.pipeline.coordinator import DUE_LIMIT, MARK_PAIRS, Coordinator
from shared.settings import Settings
from shared.state import redis_keys
from tests.conftest import wait_until
from tests.counted_redis import counted_client


@pytest.fixture
def coordinator(settings: Settings) -> Coordinator:
    """Fixed 100 ms windows and no promotion (at the lease): the rules one at a time."""
    tuned = settings.model_copy(
        update={
            "debounce_window_ms": 100,
            "debounce_window_max_ms": 100,
            "build_lease_ms": 300,
            "build_promote_ms": 300,
        }
    )
    return Coordinator(redis.Redis.from_url(settings.redis_url), tuned)


def tuned(settings: Settings, **update: object) -> Coordinator:
    return Coordinator(redis.Redis.from_url(settings.redis_url), settings.model_copy(update=update))


def test_idle_target_is_enqueued_at_once_and_only_once(coordinator):
    assert coordinator.mark([("feed:all", "1-0"), ("feed:all", "2-0")]) == ["feed:all"]
    assert coordinator.mark([("feed:all", "3-0")]) == []  # already queued
    assert coordinator.begin("feed:all") == "3-0"  # covers every event so far


def test_events_during_a_build_coalesce_into_one_more_build(coordinator):
    coordinator.mark([("feed:all", "1-0")])
    watermark = coordinator.begin("feed:all")
    for seq in range(2, 50):
        assert coordinator.mark([("feed:all", f"{seq}-0")]) == []
    coordinator.finish("feed:all", watermark)
    targets, wait_ms, *_ = coordinator.due()
    assert targets == []  # still inside the window
    assert 0 < wait_ms <= 100  # the dispatcher sleeps just until it ends
    time.sleep(0.15)
    assert coordinator.due()[0] == ["feed:all"]
    assert coordinator.begin("feed:all") == "49-0"
    coordinator.finish("feed:all", "49-0")
    time.sleep(0.15)
    assert coordinator.due()[0] == []  # nothing new: back to idle
    assert coordinator.mark([("feed:all", "50-0")]) == ["feed:all"]


def test_replayed_old_event_owes_nothing(coordinator):
    coordinator.mark([("feed:all", "5-0")])
    coordinator.finish("feed:all", coordinator.begin("feed:all"))
    time.sleep(0.15)
    coordinator.due()
    assert coordinator.mark([("feed:all", "4-0")]) == []
    assert coordinator.begin("feed:all") is None  # a duplicate task delivery is skipped


def test_lost_build_is_requeued_when_its_lease_ends(coordinator):
    coordinator.mark([("feed:tag:nato", "1-0")])
    assert coordinator.begin("feed:tag:nato") == "1-0"
    # The worker dies here: no finish.
    assert coordinator.due()[0] == []
    time.sleep(0.35)
    assert coordinator.due()[0] == ["feed:tag:nato"]
    assert coordinator.begin("feed:tag:nato") == "1-0"


def test_targets_are_independent(coordinator):
    assert coordinator.mark([("feed:all", "1-0"), ("feed:section:dunya", "1-0")]) == [
        "feed:all",
        "feed:section:dunya",
    ]
    coordinator.finish("feed:all", coordinator.begin("feed:all"))
    assert coordinator.builds() == 1


def test_a_building_worker_renews_its_lease_so_a_slow_build_is_not_requeued(coordinator):
    coordinator.mark([("feed:all", "1-0")])
    assert coordinator.begin("feed:all") == "1-0"
    for _ in range(4):  # 0.6 s in all: twice the lease
        time.sleep(0.15)
        assert coordinator.renew("feed:all")
        assert coordinator.due()[0] == []
    # A second copy of the task (its lease was renewed: the holder is alive) is skipped.
    assert coordinator.begin("feed:all") is None
    coordinator.finish("feed:all", "1-0")
    assert not coordinator.renew("feed:all")  # finished: a late renewal changes nothing
    assert coordinator.builds("feed:all") == 1


def test_transient_failures_are_retried_after_each_delay_then_parked(settings):
    tuned = settings.model_copy(
        update={"build_lease_ms": 5000, "build_retry_delays_s": [0.05, 0.1]}
    )
    coordinator = Coordinator(redis.Redis.from_url(settings.redis_url), tuned)
    coordinator.mark([("feed:all", "1-0")])
    for attempt, delay_ms in ((1, 50), (2, 100)):
        assert coordinator.begin("feed:all") == "1-0"
        failure = coordinator.fail("feed:all", transient=True)
        assert (failure.attempts, failure.retry_in_ms, failure.parked) == (attempt, delay_ms, False)
        assert coordinator.due()[0] == []  # not before its delay
        time.sleep(delay_ms / 1000 + 0.03)
        assert coordinator.due()[0] == ["feed:all"]
    assert coordinator.begin("feed:all") == "1-0"
    assert coordinator.fail("feed:all", transient=True).parked  # delays used up
    time.sleep(0.15)
    assert coordinator.due()[0] == []  # parked: nothing requeues it, not even a lease
    # A new event gives it one more build; one more failure parks it again at once.
    assert coordinator.mark([("feed:all", "2-0")]) == ["feed:all"]
    assert coordinator.begin("feed:all") == "2-0"
    assert coordinator.fail("feed:all", transient=True).parked
    coordinator.reset_failures(["feed:all"])  # `newswire dead-letters retry`
    coordinator.mark([("feed:all", "3-0")])
    assert coordinator.begin("feed:all") == "3-0"
    assert coordinator.fail("feed:all", transient=True).retry_in_ms == 50


def test_a_fault_in_the_code_or_data_is_parked_at_once_and_success_clears_its_letter(
    coordinator, db
):
    coordinator.mark([("feed:all", "1-0")])
    coordinator.begin("feed:all")
    failure = coordinator.fail("feed:all", transient=False)
    assert (failure.attempts, failure.retry_in_ms, failure.parked) == (1, None, True)
    db.hset("nw:dead:builds", "feed:all", "{}")
    coordinator.mark([("feed:all", "2-0")])
    coordinator.finish("feed:all", coordinator.begin("feed:all"))
    assert db.hexists("nw:dead:builds", "feed:all") == 0
    assert db.hget("nw:target:feed:all", "attempts") is None


def test_a_late_failure_after_the_lease_ran_out_leaves_the_new_holder_alone(coordinator, db):
    coordinator.mark([("feed:all", "1-0")])
    coordinator.begin("feed:all")
    time.sleep(0.35)
    assert coordinator.due()[0] == ["feed:all"]  # requeued: the first build looked lost
    failure = coordinator.fail("feed:all", transient=True)
    assert failure.retry_in_ms is None and not failure.parked
    assert db.hget("nw:target:feed:all", "state") == "queued"


def test_release_undoes_a_mark_whose_task_was_never_sent(coordinator):
    assert coordinator.mark([("feed:all", "1-0")]) == ["feed:all"]
    assert coordinator.release(["feed:all"]) == 1
    assert coordinator.due()[0] == []  # no lease left waiting
    assert coordinator.mark([("feed:all", "1-0")]) == ["feed:all"]  # the same event again


def test_a_queued_target_not_started_within_a_lease_is_resent_only_when_asked(settings):
    tuned = settings.model_copy(update={"build_lease_ms": 100})
    coordinator = Coordinator(redis.Redis.from_url(settings.redis_url), tuned)
    coordinator.mark([("feed:all", "1-0")])
    time.sleep(0.15)
    due = coordinator.due()
    assert (due.targets, due.stalled) == ([], ["feed:all"])  # maybe waiting behind others
    assert coordinator.due().stalled == []  # given one more lease
    assert coordinator.resend(["feed:all"]) == ["feed:all"]  # its task was lost: send again
    # However long it waits behind others, it is never sent again unasked: copies would only
    # lengthen the queue it waits in.
    for _ in range(5):
        time.sleep(0.11)
        assert coordinator.due().targets == []
    coordinator.begin("feed:all")
    assert coordinator.resend(["feed:all"]) == []  # started meanwhile: nothing to resend


def test_a_quiet_target_goes_idle_at_once_and_its_next_event_builds_at_once(coordinator):
    coordinator.mark([("feed:section:spor", "1-0")])
    coordinator.finish("feed:section:spor", coordinator.begin("feed:section:spor"))
    targets, wait_ms, *_ = coordinator.due()
    assert targets == [] and wait_ms is None  # no window to wait out: nothing is due
    time.sleep(0.12)  # past the window since that build
    assert coordinator.mark([("feed:section:spor", "2-0")]) == ["feed:section:spor"]


def test_an_event_soon_after_a_build_cools_until_the_window_ends(coordinator):
    coordinator.mark([("feed:section:spor", "1-0")])
    coordinator.finish("feed:section:spor", coordinator.begin("feed:section:spor"))
    # Within the window of the last build: the target is hot, and the events coalesce.
    assert coordinator.mark([("feed:section:spor", "2-0")]) == []
    assert coordinator.mark([("feed:section:spor", "3-0")]) == []
    targets, wait_ms, *_ = coordinator.due()
    assert targets == [] and 0 < wait_ms <= 100
    time.sleep(wait_ms / 1000 + 0.02)
    assert coordinator.due()[0] == ["feed:section:spor"]
    assert coordinator.begin("feed:section:spor") == "3-0"


def test_a_burst_costs_about_one_build_per_window(coordinator):
    """Events every 2 ms for 1 s against 100 ms windows and 10 ms builds: about a build per
    window. Bounded by the time the burst really took, whatever the machine's speed: a build
    never starts within a window of the last one's end, and once a window has ended the next
    build starts within a turn of the loop (the longest turn counts)."""
    target, seq, builds, window = "feed:section:patlama", 0, 0, 0.1
    longest = 0.0
    began = time.monotonic()
    while (turn := time.monotonic()) - began < 1.0:
        seq += 1
        queued = coordinator.mark([(target, f"{seq}-0")])
        queued += coordinator.due()[0]
        if queued:
            watermark = coordinator.begin(target)
            time.sleep(0.01)
            coordinator.finish(target, watermark)
            builds += 1
        time.sleep(0.002)
        longest = max(longest, time.monotonic() - turn)
    elapsed = time.monotonic() - began
    most = 2 + int(elapsed / window)  # the first, one per window, and one at the end
    fewest = int(elapsed / (window + 3 * longest))
    print(f"\n{seq} events in {elapsed:.2f} s (longest turn {longest * 1000:.0f} ms): {builds}")
    assert fewest <= builds <= most, (fewest, builds, most)


def test_windows_double_while_builds_cover_bursts_and_start_over_after_one_that_does_not(
    settings,
):
    coordinator = tuned(settings, debounce_window_ms=60, debounce_window_max_ms=240)
    db = redis.Redis.from_url(settings.redis_url)
    target = "feed:all"
    seq = 0

    def build() -> None:
        coordinator.finish(target, coordinator.begin(target))

    def events(count: int) -> int:
        """Mark `count` events just after a build: the window they cool for, from that
        build's end (0: queued at once). Then wait for the window to end."""
        nonlocal seq
        queued = []
        for _ in range(count):
            seq += 1
            queued += coordinator.mark([(target, f"{seq}-0")])
        if queued:
            return 0
        ends = db.zscore(redis_keys.DUE, target)
        built_at = db.hget(redis_keys.target(target), "built_at")
        assert ends is not None and built_at is not None
        wait_until(lambda: coordinator.due().targets == [target], 5, backoff=False)
        return int(ends) - int(built_at)

    coordinator.mark([(target, "0-1")])
    build()
    windows = []
    for _ in range(5):  # bursts of events soon after each build: hot, window after window
        windows.append(events(5))
        build()
    # After the first build (one event) the first window; each build after covered five:
    # doubled, up to the longest.
    assert windows == [60, 120, 240, 240, 240], windows
    assert events(1) == 240  # the last build covered a burst
    build()  # this one covered a single event: the target keeps up
    assert events(1) == 60
    build()
    time.sleep(0.1)  # past the window: quiet
    assert events(1) == 0  # built at once


def test_a_target_queued_past_the_promotion_delay_is_sent_again_once(settings):
    coordinator = tuned(settings, build_promote_ms=100, build_lease_ms=2000)
    assert coordinator.mark([("feed:tag:nato", "1-0")]) == ["feed:tag:nato"]
    assert coordinator.due().promoted == []  # not yet
    time.sleep(0.15)
    due = coordinator.due()
    assert (due.promoted, due.targets, due.stalled) == (["feed:tag:nato"], [], [])
    time.sleep(0.15)
    # Not sent (nothing urgent held it back): asked about again after the delay.
    assert coordinator.due().promoted == ["feed:tag:nato"]
    coordinator.promoted(["feed:tag:nato"])  # sent now
    time.sleep(0.15)
    assert coordinator.due().promoted == []  # once
    # Whichever copy starts first builds; the other finds nothing owed.
    assert coordinator.begin("feed:tag:nato") == "1-0"
    coordinator.finish("feed:tag:nato", "1-0")
    assert coordinator.begin("feed:tag:nato") is None


def test_a_promotion_settled_late_leaves_a_newer_queueing_alone(settings):
    """The dispatcher settles a promotion after sending it: if the target was built and
    queued again meanwhile, that queueing was never offered, and is still promoted in time."""
    # A long lease: however slow the machine, no queueing here waits long enough to stall.
    coordinator = tuned(settings, build_promote_ms=100, build_lease_ms=30_000)
    target = "feed:tag:nato"
    coordinator.mark([(target, "1-0")])
    time.sleep(0.15)
    assert coordinator.due().promoted == [target]  # sent again urgently...
    coordinator.finish(target, coordinator.begin(target))  # ...and built at once
    # Past that build's window (the first window, or nine times the build), the next event
    # queues the target anew.
    took_ms = int(redis.Redis.from_url(settings.redis_url).hget(redis_keys.target(target), "took"))
    time.sleep(max(100, 9 * took_ms) / 1000 + 0.05)
    assert coordinator.mark([(target, "2-0")]) == [target]
    coordinator.promoted([target])  # the settlement of the first queueing comes in late
    time.sleep(0.15)
    assert coordinator.due().promoted == [target]


def test_a_build_reports_how_long_its_target_was_owed(coordinator):
    target = "feed:section:spor"
    coordinator.mark([(target, "1-0")])
    time.sleep(0.1)
    coordinator.mark([(target, "2-0")])  # owed since the first event, not this one
    watermark = coordinator.begin(target)
    coordinator.mark([(target, "3-0")])  # arrives during the build: the next build's
    time.sleep(0.05)
    first = coordinator.finish(target, watermark)
    assert first is not None and first >= 150
    time.sleep(0.15)
    assert coordinator.due().targets == [target]
    second = coordinator.finish(target, coordinator.begin(target))
    assert second is not None and 150 <= second < first + 150
    # A failed build leaves its target owed since the same moment.
    coordinator.mark([(target, "4-0")])
    time.sleep(0.1)
    coordinator.begin(target)
    coordinator.fail(target, transient=True)
    time.sleep(0.25)  # the first retry delay
    assert coordinator.due().targets == [target]
    third = coordinator.finish(target, coordinator.begin(target))
    assert third is not None and third >= 350


def test_a_hot_target_waits_at_least_nine_times_its_last_build(settings):
    """So no one target keeps more than a tenth of a worker: a slow build (under load, or
    a big feed) is followed by a longer window."""
    coordinator = tuned(settings, debounce_window_ms=20, debounce_window_max_ms=2000)
    db = redis.Redis.from_url(settings.redis_url)
    target = "feed:section:spor"
    coordinator.mark([(target, "1-0")])
    watermark = coordinator.begin(target)
    time.sleep(0.1)  # a build of 100 ms or more (the clock is Redis's)
    coordinator.finish(target, watermark)
    took = int(db.hget(redis_keys.target(target), "took"))
    assert 9 * took > 20  # so the window is the build's nine times, not the first window
    assert coordinator.mark([(target, "2-0")]) == []  # within its window: hot
    ends = db.zscore(redis_keys.DUE, target)
    built_at = int(db.hget(redis_keys.target(target), "built_at"))
    assert ends - built_at == min(2000, 9 * took)


def test_a_hot_sitemap_waits_at_least_its_kind_s_window(settings):
    """Crawlers read sitemaps every few minutes: a hot sitemap gathers events for at least
    `sitemap_window_ms`, while a feed's window stays the coordinator's own."""
    coordinator = tuned(
        settings, debounce_window_ms=20, debounce_window_max_ms=40, sitemap_window_ms=600
    )
    db = redis.Redis.from_url(settings.redis_url)
    for target in ("sitemap:news", "feed:section:spor"):
        coordinator.mark([(target, "1-0")])
        coordinator.finish(target, coordinator.begin(target))
        assert coordinator.mark([(target, "2-0")]) == []  # within its window: hot
    built_at = {
        t: int(db.hget(redis_keys.target(t), "built_at"))
        for t in ("sitemap:news", "feed:section:spor")
    }
    assert db.zscore(redis_keys.DUE, "sitemap:news") - built_at["sitemap:news"] == 600
    feed_window = db.zscore(redis_keys.DUE, "feed:section:spor") - built_at["feed:section:spor"]
    assert 20 <= feed_window <= 40
    time.sleep(0.1)  # past the feed's window, well inside the sitemap's
    assert coordinator.due().targets == ["feed:section:spor"]


def test_a_finish_is_one_round_trip_and_survives_flushed_scripts(settings):
    """A build's finish and its last-build record go in one round trip (no SCRIPT EXISTS
    first); with Redis's scripts gone (a restart, SCRIPT FLUSH) it loads the script again and
    finishes."""
    client, sent = counted_client(settings.redis_url)
    coordinator = Coordinator(client, settings)
    target = "feed:tag:hizli"
    last = last_builds.LastBuild("feed", target, "published", time.time(), 0.01)
    coordinator.mark([(target, "1-0")])
    watermark = coordinator.begin(target)
    sent.clear()
    assert coordinator.finish(target, watermark, last) is not None
    assert len(sent) == 1
    assert client.hget(redis_keys.target(target), "done") == b"1-0"

    other = "feed:tag:yavas"
    assert coordinator.mark([(other, "2-0")]) == [other]
    watermark = coordinator.begin(other)
    client.script_flush()
    last = last_builds.LastBuild("feed", other, "published", time.time(), 0.01)
    assert coordinator.finish(other, watermark, last) is not None
    assert client.hget(redis_keys.target(other), "done") == b"2-0"
    assert last_builds.read(client, ["feed"])["feed"] == last


def test_a_begin_says_how_long_its_target_was_queued_when_it_was(coordinator):
    target = "feed:tag:bekleyen"
    assert coordinator.mark([(target, "1-0")]) == [target]
    time.sleep(0.05)
    begun = coordinator.begin_with(target, "", ())
    assert begun.watermark == "1-0" and begun.queued_ms is not None and begun.queued_ms >= 50
    coordinator.finish(target, begun.watermark)
    coordinator.mark([(target, "2-0")])  # within its window: it cools, not queued
    # A stale copy of a task starts it while it cools: it was not queued, so not known.
    begun = coordinator.begin_with(target, "", ())
    assert begun.watermark == "2-0" and begun.queued_ms is None


def test_a_promoted_target_still_queued_at_the_deadline_is_sent_again_urgently_once(settings):
    # A long lease: however slow the machine, the queueing never waits long enough to stall;
    # and a deadline far past the promotion delay, so none passes it before the first stage
    # is settled.
    coordinator = tuned(
        settings, build_promote_ms=50, build_deadline_ms=1000, build_lease_ms=30_000
    )
    target = "feed:tag:gecikmis"
    coordinator.mark([(target, "1-0")])
    time.sleep(0.06)
    due = coordinator.due()
    assert (due.promoted, due.overdue) == ([target], [])
    coordinator.promoted([target])  # sent again, promoted
    assert coordinator.due().overdue == []  # not before the deadline
    time.sleep(1.0)
    due = coordinator.due()
    assert (due.promoted, due.overdue, due.stalled) == ([], [target], [])
    coordinator.promoted([target], overdue=True)  # sent again, urgently
    time.sleep(0.25)
    due = coordinator.due()
    assert (due.promoted, due.overdue) == ([], [])  # once each
    assert coordinator.begin(target) == "1-0"


def test_a_deadline_settlement_leaves_a_queueing_not_yet_promoted_alone(settings):
    coordinator = tuned(settings, build_promote_ms=50, build_deadline_ms=100, build_lease_ms=30_000)
    target = "feed:tag:erken"
    coordinator.mark([(target, "1-0")])
    time.sleep(0.12)
    coordinator.promoted([target], overdue=True)  # late, for a queueing never promoted
    assert coordinator.due().promoted == [target]  # still offered its first stage


def test_a_large_mark_goes_in_calls_of_a_few_hundred_pairs_and_queues_each_target_once(settings):
    client, sent = counted_client(settings.redis_url)
    coordinator = Coordinator(client, settings)
    targets = [f"feed:tag:toplu-{n}" for n in range(MARK_PAIRS)]
    # Each target twice (an import's events touch the same feeds), 2 × MARK_PAIRS pairs.
    touched = [(t, f"{n + 1}-0") for n, t in enumerate(targets)]
    touched += [(t, f"{n + 1}-1") for n, t in enumerate(targets)]
    coordinator.mark([("feed:tag:hazirlik", "0-1")])  # loads the script
    sent.clear()
    assert coordinator.mark(touched) == targets  # queued once each, by its first pair
    assert len(sent) == 2
    assert client.hget(redis_keys.target(targets[-1]), "want") == f"{MARK_PAIRS}-1".encode()


def test_a_due_call_takes_a_few_hundred_targets_and_says_the_rest_are_due_now(settings):
    coordinator = tuned(settings, build_promote_ms=50, build_lease_ms=30_000)
    targets = [f"feed:tag:sirada-{n}" for n in range(DUE_LIMIT + 40)]
    assert len(coordinator.mark([(t, "1-0") for t in targets])) == len(targets)
    time.sleep(0.06)  # past the promotion delay: every one is offered for promotion
    first = coordinator.due()
    assert len(first.promoted) == DUE_LIMIT and first.wait_ms == 0
    rest = coordinator.due()
    assert sorted(first.promoted + rest.promoted) == sorted(targets)
