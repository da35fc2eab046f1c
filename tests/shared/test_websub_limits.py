"""The WebSub hub's counters in a real Valkey: the per-client sliding window, verification slots
per callback host and in all, freed when a verification ends or, for a dead worker, on expiry."""

from __future__ import annotations

import redis

from shared.settings import Settings
from shared.websub import Subscriptions
from shared.websub_limits import (
    ClientWindow,
    Full,
    VerifySlots,
    callback_host,
    client_key,
    slot_lifetime_s,
)
from tests.conftest import wait_until

ONE = "https://okur.example.com/websub?feed=dunya"
SAME_HOST = "https://OKUR.example.com.:8443/other"
OTHER = "https://baska.example.net/websub"
TOPIC = "http://127.0.0.1:8080/feeds/sections/dunya.rss"


def client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url)


def test_a_client_gets_its_limit_in_a_window_then_waits(settings: Settings) -> None:
    window = ClientWindow(client(settings), limit=3, window_s=60)
    assert [window.take("203.0.113.7") for _ in range(3)] == [0, 0, 0]
    waits = [window.take("203.0.113.7") for _ in range(5)]
    assert all(1 <= wait <= 60 for wait in waits)
    assert window.take("203.0.113.8") == 0  # another client counts apart


def test_the_window_slides_and_refusals_are_not_counted(settings: Settings) -> None:
    window = ClientWindow(client(settings), limit=2, window_s=0.3)
    assert [window.take("203.0.113.7") for _ in range(2)] == [0, 0]
    assert window.take("203.0.113.7") == 1  # under a second left: at least 1
    # Once the first two leave the window, two go again, whatever was refused meanwhile.
    wait_until(lambda: window.take("203.0.113.7") == 0, timeout=10)
    assert window.take("203.0.113.7") == 0
    assert window.take("203.0.113.7") == 1


def test_a_lowered_limit_waits_for_enough_to_leave(settings: Settings) -> None:
    db = client(settings)
    generous = ClientWindow(db, limit=5, window_s=60)
    assert [generous.take("203.0.113.7") for _ in range(5)] == [0] * 5
    assert 1 <= ClientWindow(db, limit=2, window_s=60).take("203.0.113.7") <= 60


def test_no_limit_takes_everything(settings: Settings) -> None:
    window = ClientWindow(client(settings), limit=0)
    assert {window.take("203.0.113.7") for _ in range(100)} == {0}


def test_an_ipv6_client_counts_by_its_64() -> None:
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff:2") == "2001:db8::/64"
    assert client_key("2001:db8:0:1::1") == "2001:db8:0:1::/64"
    assert client_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert client_key("203.0.113.7") == "203.0.113.7"
    assert client_key("") == "unknown"


def test_callback_hosts_are_normalized() -> None:
    assert callback_host(ONE) == callback_host(SAME_HOST) == "okur.example.com"
    assert callback_host("http://haber.örnek.com.tr/cb") == "haber.xn--rnek-4qa.com.tr"
    assert callback_host("http://[2001:db8::1]:8080/cb") == "2001:db8::1"


def test_slots_are_capped_per_host_and_in_all(settings: Settings) -> None:
    slots = VerifySlots(client(settings), per_host=2, overall=3, lifetime_s=60)
    assert slots.reserve("a", ONE) is None
    assert slots.reserve("b", SAME_HOST) is None
    full = slots.reserve("c", ONE)
    assert isinstance(full, Full) and full.scope == "host"
    assert 59 <= full.retry_after_s <= 60  # the first slot expires in a minute at the latest
    assert slots.reserve("d", OTHER) is None
    full = slots.reserve("e", "https://third.example.org/")
    assert isinstance(full, Full) and full.scope == "hub"
    assert (slots.held(ONE), slots.held(OTHER), slots.held()) == (2, 1, 3)
    slots.release("a", ONE)
    assert slots.reserve("c", ONE) is None
    assert slots.held() == 3


def test_expiry_frees_the_slots_of_a_dead_worker(settings: Settings) -> None:
    slots = VerifySlots(client(settings), per_host=1, overall=10, lifetime_s=0.3)
    assert slots.reserve("lost", ONE) is None
    refused = slots.reserve("next", ONE)
    assert refused is not None and refused.retry_after_s == 1
    wait_until(lambda: slots.reserve("next", ONE) is None, timeout=10)
    assert slots.held() == 1


def test_the_end_of_a_verification_frees_its_slot(settings: Settings) -> None:
    db = client(settings)
    slots = VerifySlots(db, per_host=5, overall=5, lifetime_s=60)
    subscriptions = Subscriptions(db, settings)
    intents = [subscriptions.new_intent("subscribe", TOPIC, ONE, None, None) for _ in range(3)]
    for intent in intents:
        assert slots.reserve(intent.id, intent.callback) is None
        subscriptions.store(intent)
    subscriptions.verify(intents[0])  # confirmed
    subscriptions.discard(intents[1])  # declined
    subscriptions.discard(intents[2].id)  # given up on, by id
    assert (slots.held(ONE), slots.held()) == (0, 0)


def test_a_slot_outlives_any_verification_a_live_worker_runs() -> None:
    assert slot_lifetime_s(Settings()) == 60  # 4 attempts of 5 s and 7 s of delays, twice: 54
    slow = Settings(fetch_deadline_s=30, websub_retry_delays_s=[5, 10])
    assert slot_lifetime_s(slow) == 2 * (3 * 30 + 15)
