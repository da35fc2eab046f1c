"""The WebSub hub's limits and keys over real HTTP, on a real Valkey: a client over its window,
a callback host or the deployment with every verification slot taken get 429 with
Retry-After; a slot frees when its verification ends; with `websub_require_key`, only a key
that may write articles gets in.

Clients connect from addresses of their own (127.0.0.3, 127.0.0.4): the hub counts the
connection's peer. No worker runs here: a test ends a verification the way the worker does,
through `Subscriptions`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import redis
from kombu.exceptions import OperationalError

from services.feeds.app import create_app
from shared.api_keys import ADMIN, ARTICLES_WRITE, ApiKey, Scope, key_digest
from shared.settings import Settings
from shared.state import redis_keys
from shared.store import make_store
from shared.store.artifacts import encode
from shared.websub import Subscriptions
from shared.websub_limits import VerifySlots
from tests.conftest import API_KEY, API_KEYS, OTHER_API_KEY, live_server
from tests.feeds.conftest import feed_body

BASE = "http://127.0.0.1:8080/"
TOPIC = BASE + "feeds/sections/dunya.rss"
ONE_HOST = "http://127.0.0.2:8765/websub"
OTHER_HOST = "http://127.0.0.3:8765/websub"


class SentTasks:
    """A `send_task` that records the intents the hub queued for verification."""

    def __init__(self) -> None:
        self.intents: list[str] = []

    def __call__(self, name: str, args: Sequence[str], queue: str) -> object:
        self.intents.append(args[0])
        return None


class BrokerDown:
    """A `send_task` whose broker cannot be reached."""

    def __call__(self, name: str, args: Sequence[str], queue: str) -> object:
        raise OperationalError("broker away")


def hub_settings(redis_url: str, tmp_path: Path, **limits: object) -> Settings:
    return Settings(
        redis_url=redis_url,
        artifact_dir=tmp_path / "artifacts",
        feeds_base_url=BASE,
        fetch_allow_networks=["127.0.0.2/32", "127.0.0.3/32"],
        api_keys=API_KEYS,
        **limits,
    )


@contextmanager
def running_hub(settings: Settings, send_task: object) -> Iterator[str]:
    """A feeds service with the hub, publishing the topic; yields the hub's URL."""
    store = make_store(settings)
    assert store.publish(
        "feed:section:dunya", [encode("feeds/sections/dunya.rss", feed_body(), 5)], "1-0"
    )
    try:
        with live_server(create_app(settings, store, send_task=send_task)) as url:
            yield url + "/websub"
    finally:
        store.close()


@contextmanager
def client_at(address: str) -> Iterator[httpx.Client]:
    """An HTTP client whose connections come from `address`."""
    with httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10) as client:
        yield client


def subscribe(
    client: httpx.Client, hub: str, callback: str = ONE_HOST, **headers: str
) -> httpx.Response:
    fields = {"hub.mode": "subscribe", "hub.topic": TOPIC, "hub.callback": callback}
    return client.post(hub, data=fields, headers=headers)


def assert_too_many(response: httpx.Response, *, at_most_s: int) -> str:
    """A 429 in the hub's error shape with a sane Retry-After; returns the message."""
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert (error["status"], error["code"], error["fields"]) == (429, "rate_limited", [])
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= at_most_s
    assert error["message"].endswith(f"retry after {retry_after} s")
    return error["message"]


def test_a_client_over_its_window_waits_and_others_do_not(redis_url, tmp_path) -> None:
    settings = hub_settings(redis_url, tmp_path, websub_subscribe_per_minute=3)
    sent = SentTasks()
    with running_hub(settings, sent) as hub, client_at("127.0.0.3") as one:
        assert [subscribe(one, hub).status_code for _ in range(3)] == [202] * 3
        message = assert_too_many(subscribe(one, hub), at_most_s=60)
        assert "3 requests a minute from one client" in message
        # A forwarded address from a peer the server does not trust changes nothing.
        assert_too_many(subscribe(one, hub, **{"X-Forwarded-For": "203.0.113.9"}), at_most_s=60)
        assert len(sent.intents) == 3  # refused requests queued nothing
        with client_at("127.0.0.4") as other:
            assert subscribe(other, hub).status_code == 202


def test_a_refused_form_is_not_counted(redis_url, tmp_path) -> None:
    settings = hub_settings(redis_url, tmp_path, websub_subscribe_per_minute=1)
    with running_hub(settings, SentTasks()) as hub, client_at("127.0.0.3") as client:
        for port in (25, 9):
            refused = subscribe(client, hub, callback=f"http://127.0.0.2:{port}/websub")
            assert refused.status_code == 422
            assert refused.json()["error"]["fields"][0]["field"] == "hub.callback"
        assert subscribe(client, hub).status_code == 202


def test_a_callback_host_with_every_slot_taken_waits_for_one_to_free(redis_url, tmp_path) -> None:
    settings = hub_settings(redis_url, tmp_path, websub_pending_per_host=2)
    subscriptions = Subscriptions(redis.Redis.from_url(redis_url), settings)
    sent = SentTasks()
    with running_hub(settings, sent) as hub, client_at("127.0.0.3") as client:
        assert [subscribe(client, hub).status_code for _ in range(2)] == [202] * 2
        message = assert_too_many(subscribe(client, hub), at_most_s=60)
        assert message.startswith("127.0.0.2 has 2 verifications of intent pending")
        assert subscribe(client, hub, callback=OTHER_HOST).status_code == 202
        # The worker declines the first verification (the subscriber did not echo): its slot
        # is free again.
        subscriptions.discard(sent.intents[0])
        assert subscribe(client, hub).status_code == 202
        assert_too_many(subscribe(client, hub), at_most_s=60)


def test_the_deployment_with_every_slot_taken_waits_for_one_to_free(redis_url, tmp_path) -> None:
    settings = hub_settings(
        redis_url, tmp_path, websub_pending_per_host=2, websub_verify_queue_max=3
    )
    subscriptions = Subscriptions(redis.Redis.from_url(redis_url), settings)
    sent = SentTasks()
    with running_hub(settings, sent) as hub, client_at("127.0.0.3") as client:
        statuses = [subscribe(client, hub, callback=c).status_code for c in (ONE_HOST,) * 2]
        assert [*statuses, subscribe(client, hub, callback=OTHER_HOST).status_code] == [202] * 3
        message = assert_too_many(subscribe(client, hub, callback=OTHER_HOST), at_most_s=60)
        assert message.startswith("the hub has 3 verifications of intent pending")
        # A verification that succeeds frees its slot too.
        intent = subscriptions.pending(sent.intents[0])
        assert intent is not None
        subscriptions.verify(intent)
        assert subscribe(client, hub, callback=OTHER_HOST).status_code == 202


def test_a_request_the_broker_refused_holds_no_slot(redis_url, tmp_path) -> None:
    settings = hub_settings(redis_url, tmp_path)
    client = redis.Redis.from_url(redis_url)
    with running_hub(settings, BrokerDown()) as hub, client_at("127.0.0.3") as http:
        response = http.post(
            hub, data={"hub.mode": "subscribe", "hub.topic": TOPIC, "hub.callback": ONE_HOST}
        )
    assert (response.status_code, response.headers["Retry-After"]) == (503, "1")
    assert VerifySlots.from_settings(client, settings).held() == 0
    assert client.keys(redis_keys.WEBSUB_INTENT.format(id="*")) == []


def store_key(client: redis.Redis, token: str, *scopes: Scope, revoked: str = "") -> None:
    """A key as `newswire keys create` keeps it in Redis."""
    key = ApiKey(key_digest(token), "stored", scopes, "2026-01-01T00:00:00Z", revoked)
    client.hset(redis_keys.api_key(key.digest), mapping=key.to_hash())


def test_with_a_key_required_only_a_writing_key_subscribes(redis_url, tmp_path) -> None:
    settings = hub_settings(redis_url, tmp_path, websub_require_key=True)
    client = redis.Redis.from_url(redis_url)
    store_key(client, "stored-admin-key", ADMIN)
    store_key(client, "stored-revoked-key", ARTICLES_WRITE, revoked="2026-02-01T00:00:00Z")
    store_key(client, "stored-scopeless-key")
    sent = SentTasks()
    with running_hub(settings, sent) as hub, client_at("127.0.0.3") as http:
        refused = subscribe(http, hub)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == "Bearer"
        error = refused.json()["error"]
        assert (error["status"], error["code"]) == (401, "unauthorized")
        assert "Authorization: Bearer" in error["message"]
        for authorization in (
            "Basic dXNlcjpwYXNz",
            "Bearer not-a-key",
            "Bearer stored-revoked-key",
            "Bearer stored-scopeless-key",
        ):
            assert subscribe(http, hub, Authorization=authorization).status_code == 401
        assert sent.intents == []
        for token in (API_KEY, OTHER_API_KEY, "stored-admin-key"):
            assert subscribe(http, hub, Authorization=f"Bearer {token}").status_code == 202
        assert len(sent.intents) == 3


def test_without_a_key_required_none_is_asked_for(redis_url, tmp_path) -> None:
    settings = hub_settings(redis_url, tmp_path)
    with running_hub(settings, SentTasks()) as hub, client_at("127.0.0.3") as http:
        assert subscribe(http, hub).status_code == 202
