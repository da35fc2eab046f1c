"""The push worker's side of the hub's limits, in process on a real Valkey: a verification frees
its slot however it ends, and a callback on a port the hub refuses is never called, even one
an older hub accepted."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
import redis

from services.render.websub.delivery import WebSub, deliver, verify_intent
from shared.net.fetcher import Fetcher, FetchPolicy
from shared.settings import Settings
from shared.store import make_store
from shared.websub import Subscriptions
from shared.websub_limits import VerifySlots
from tests.shared.net.fetch_servers import LocalServer

TOPIC = "http://127.0.0.1:8080/feeds/sections/dunya.rss"


def no_tasks(name: str, args: Sequence[str], queue: str) -> object:
    raise AssertionError(f"no task expected, got {name}")


@pytest.fixture
def websub(settings: Settings) -> Iterator[WebSub]:
    allowed = settings.model_copy(update={"fetch_allow_networks": ["127.0.0.2/32"]})
    client = redis.Redis.from_url(settings.redis_url)
    store = make_store(allowed)
    fetcher = Fetcher(FetchPolicy.from_settings(allowed))
    yield WebSub(allowed, Subscriptions(client, allowed), store, fetcher, no_tasks)
    store.close()
    client.close()


@pytest.fixture
def slots(websub: WebSub) -> VerifySlots:
    client = redis.Redis.from_url(websub.settings.redis_url)
    return VerifySlots.from_settings(client, websub.settings)


def pending(websub: WebSub, slots: VerifySlots, callback: str) -> str:
    """An intent as the hub leaves it: holding a slot, stored, its task queued."""
    intent = websub.subscriptions.new_intent("subscribe", TOPIC, callback, None, None)
    assert slots.reserve(intent.id, callback) is None
    websub.subscriptions.store(intent)
    return intent.id


def test_a_declined_verification_frees_its_slot(websub, slots) -> None:
    server = LocalServer("declines", "127.0.0.2", 0).start()  # echoes, not the challenge
    try:
        intent_id = pending(websub, slots, f"http://127.0.0.2:{server.port}/websub")
        assert slots.held() == 1
        assert verify_intent(intent_id, websub) == "declined"
        assert server.requests == 1
    finally:
        server.stop()
    assert slots.held() == 0
    assert websub.subscriptions.pending(intent_id) is None


@pytest.mark.parametrize("port", [25, 9])
def test_a_callback_on_a_refused_port_is_not_verified(websub, slots, port) -> None:
    intent_id = pending(websub, slots, f"http://127.0.0.2:{port}/websub")
    assert verify_intent(intent_id, websub) == "refused"
    assert slots.held() == 0
    assert websub.subscriptions.pending(intent_id) is None


def test_a_subscription_on_a_refused_port_gets_no_delivery(websub) -> None:
    callback = "http://127.0.0.2:25/websub"
    websub.subscriptions.add(TOPIC, callback, None, None)  # as a hub before the port rule took it
    assert deliver(TOPIC, callback, '"etag"', websub) == "refused"
    assert websub.subscriptions.get(TOPIC, callback) is None
