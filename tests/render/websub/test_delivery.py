"""The push worker's side of the hub, in process on a real Valkey: a verification frees its
slot however it ends, a callback on a port the hub refuses is never called (even one an older
hub accepted), and a build's change reaches every subscriber and external hub."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

import pytest
import redis

from services.render.websub.delivery import (
    DIRECT_DELIVERIES,
    WebSub,
    deliver,
    fan_out,
    publish_hook,
    verify_intent,
)
from shared.net.fetcher import Fetcher, FetchPolicy
from shared.settings import Settings
from shared.store import make_store
from shared.store.artifacts import Artifact, encode
from shared.websub import DELIVER_TASK, NOTIFY_TASK, PING_TASK, Subscriptions, topic_url
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


class Queued(list[tuple[str, ...]]):
    """A `SendTask` that keeps what it was asked to queue: (task name, *args)."""

    def __call__(self, name: str, args: Sequence[str], queue: str) -> object:
        assert queue == "websub"
        self.append((name, *args))
        return None


def announcer(settings: Settings, websub: WebSub, queued: Queued) -> Callable[..., None]:
    """The publish hook's two steps, as a build takes them: its claim sent (alone here, with
    the build's finish in a worker), then its reply acted on."""
    hook = publish_hook(settings, websub.subscriptions, queued)
    client = redis.Redis.from_url(settings.redis_url)

    def announce(target: str, artifacts: Sequence[Artifact]) -> None:
        announcement = hook(target, artifacts)
        assert announcement is not None
        announcement.then(announcement.call.run(client))

    return announce


def test_a_build_without_feed_files_announces_nothing(websub) -> None:
    hook = publish_hook(websub.settings, websub.subscriptions, no_tasks)
    assert hook("card:a1", [encode("cards/a1.jpg", b"jpeg")]) is None


def test_a_change_goes_to_a_few_subscribers_at_once_and_to_more_through_notify(websub) -> None:
    queued = Queued()
    announce = announcer(websub.settings, websub, queued)
    path = "feeds/sections/dunya.rss"
    topic = topic_url(websub.settings, path)
    callbacks = [f"https://abone{n}.example/websub" for n in range(DIRECT_DELIVERIES + 1)]
    for callback in callbacks[:DIRECT_DELIVERIES]:
        websub.subscriptions.add(topic, callback, 3600, None)
    first = encode(path, b"<rss>1</rss>")
    announce("feed:section:dunya", [first, encode("feeds/sections/dunya.html", b"<p>")])
    assert sorted(queued) == sorted((DELIVER_TASK, topic, cb, first.etag) for cb in callbacks[:-1])

    websub.subscriptions.add(topic, callbacks[-1], 3600, None)
    queued.clear()
    second = encode(path, b"<rss>2</rss>")
    announce("feed:section:dunya", [second])
    assert queued == [(NOTIFY_TASK, topic, second.etag)]
    fanned = Queued()
    assert fan_out(topic, second.etag, replace(websub, send_task=fanned)) == len(callbacks)
    assert sorted(fanned) == sorted((DELIVER_TASK, topic, cb, second.etag) for cb in callbacks)


def test_with_external_hubs_every_change_goes_through_notify_to_ping_them(websub) -> None:
    hub = "https://hub.example/"
    settings = websub.settings.model_copy(update={"websub_external_hubs": [hub]})
    queued = Queued()
    announce = announcer(settings, websub, queued)
    path = "feeds/tags/nato.atom"
    topic = topic_url(settings, path)
    websub.subscriptions.add(topic, "https://abone.example/websub", 3600, None)
    artifact = encode(path, b"<feed/>")
    announce("feed:tag:nato", [artifact])
    assert queued == [(NOTIFY_TASK, topic, artifact.etag)]
    fanned = Queued()
    assert fan_out(topic, artifact.etag, replace(websub, settings=settings, send_task=fanned)) == 1
    assert sorted(fanned) == sorted(
        [
            (DELIVER_TASK, topic, "https://abone.example/websub", artifact.etag),
            (PING_TASK, hub, topic),
        ]
    )
