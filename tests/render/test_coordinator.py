"""The per-target state machine that bounds builds, against a real Redis."""

from __future__ import annotations

import time

import pytest
import redis

from services.render.coordinator import Coordinator
from shared.settings import Settings


@pytest.fixture
def coordinator(settings: Settings) -> Coordinator:
    tuned = settings.model_copy(update={"debounce_window_ms": 100, "build_lease_ms": 300})
    return Coordinator(redis.Redis.from_url(settings.redis_url), tuned)


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
    targets, wait_ms = coordinator.due()
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
