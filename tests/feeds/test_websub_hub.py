"""The WebSub hub endpoint over real HTTP: accepted requests queue a verification; bad ones are
refused with the field named, and queue nothing."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import redis

from services.feeds.app import create_app
from shared.settings import Settings
from shared.store import make_store
from shared.store.artifacts import encode
from shared.websub import VERIFY_TASK, Subscriptions
from tests.conftest import live_server
from tests.feeds.conftest import feed_body

BASE = "http://127.0.0.1:8080/"
TOPIC = BASE + "feeds/sections/dunya.rss"
CALLBACK = "http://127.0.0.2:8765/websub?feed=dunya"  # 127.0.0.2 stands in for a public host
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


class SentTasks:
    """A `send_task` that records what the hub queued."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str], str]] = []

    def __call__(self, name: str, args: Sequence[str], queue: str) -> object:
        self.calls.append((name, list(args), queue))
        return None


@pytest.fixture(scope="module")
def hub_settings(feeds_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return feeds_settings.model_copy(
        update={
            "artifact_dir": tmp_path_factory.mktemp("hub-artifacts"),
            "feeds_base_url": BASE,
            "fetch_allow_networks": ["127.0.0.2/32"],
            "websub_max_lease_s": 3600,
            "websub_default_lease_s": 600,
            # No worker ends these verifications, and every test comes from one address: the
            # limits have tests of their own (test_websub_hub_limits.py).
            "websub_subscribe_per_minute": 0,
            "websub_pending_per_host": 1000,
            "websub_verify_queue_max": 1000,
        }
    )


@pytest.fixture(scope="module")
def sent() -> SentTasks:
    return SentTasks()


@pytest.fixture(scope="module")
def hub(hub_settings: Settings, sent: SentTasks) -> Iterator[str]:
    store = make_store(hub_settings)
    assert store.publish(
        "feed:section:dunya", [encode("feeds/sections/dunya.rss", feed_body(), 5)], "1-0"
    )
    with live_server(create_app(hub_settings, store, send_task=sent)) as url:
        yield url + "/websub"
    store.close()


@pytest.fixture
def post(hub: str, sent: SentTasks, http_client: httpx.Client):
    sent.calls.clear()

    def _post(fields: dict[str, str]) -> httpx.Response:
        return http_client.post(hub, data=fields)

    return _post


def form(**fields: str) -> dict[str, str]:
    base = {"hub.mode": "subscribe", "hub.topic": TOPIC, "hub.callback": CALLBACK}
    base.update({f"hub.{name}": value for name, value in fields.items()})
    return {name: value for name, value in base.items() if value is not None}


def pending(settings: Settings, sent: SentTasks):
    [(name, [intent_id], queue)] = sent.calls
    assert (name, queue) == (VERIFY_TASK, "websub")  # on the push workers' queue
    return Subscriptions(redis.Redis.from_url(settings.redis_url), settings).pending(intent_id)


def test_subscribe_is_accepted_and_queues_verification(post, sent, hub_settings) -> None:
    response = post(form(secret="çok gizli", lease_seconds="120"))
    assert (response.status_code, response.content) == (202, b"")
    intent = pending(hub_settings, sent)
    assert (intent.mode, intent.topic, intent.callback) == ("subscribe", TOPIC, CALLBACK)
    assert (intent.lease_seconds, intent.secret) == (120, "çok gizli")


def test_lease_is_capped_and_defaulted(post, sent, hub_settings) -> None:
    assert post(form(lease_seconds="99999999")).status_code == 202
    assert pending(hub_settings, sent).lease_seconds == 3600
    sent.calls.clear()
    assert post(form(lease_seconds="")).status_code == 202  # empty counts as absent
    assert pending(hub_settings, sent).lease_seconds == 600


def test_unsubscribe_needs_no_published_feed(post, sent, hub_settings) -> None:
    topic = BASE + "feeds/tags/artik-yok.atom"
    assert post(form(mode="unsubscribe", topic=topic)).status_code == 202
    intent = pending(hub_settings, sent)
    assert (intent.mode, intent.topic, intent.lease_seconds) == ("unsubscribe", topic, 0)


def test_secret_of_199_bytes_is_accepted(post) -> None:
    assert post(form(secret="ş" * 99 + "x")).status_code == 202


@pytest.mark.parametrize("port", [":80", ":443", ":1024", ""])
def test_callback_on_a_web_port_or_above_1023_is_accepted(post, port) -> None:
    assert post(form(callback=f"http://127.0.0.2{port}/websub")).status_code == 202


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"mode": None}, "hub.mode"),
        ({"mode": "publish"}, "hub.mode"),
        ({"mode": ""}, "hub.mode"),
        ({"topic": None}, "hub.topic"),
        ({"callback": None}, "hub.callback"),
        ({"topic": "https://elsewhere.example/feeds/sections/dunya.rss"}, "hub.topic"),
        ({"topic": BASE + "feeds/sections/dunya.html"}, "hub.topic"),
        ({"topic": BASE + "sitemap.xml"}, "hub.topic"),
        ({"topic": BASE + "feeds/sections/yok.rss"}, "hub.topic"),  # not published
        ({"callback": "ftp://127.0.0.2/websub"}, "hub.callback"),
        ({"callback": "javascript:alert(1)"}, "hub.callback"),
        ({"callback": "/websub"}, "hub.callback"),
        ({"callback": "http://127.0.0.1:8765/websub"}, "hub.callback"),
        ({"callback": "http://10.1.2.3/websub"}, "hub.callback"),
        ({"callback": "http://169.254.169.254/latest/meta-data"}, "hub.callback"),
        ({"callback": "http://[::1]:8765/websub"}, "hub.callback"),
        ({"callback": "http://0x7f000001/websub"}, "hub.callback"),
        ({"callback": "http://2130706433/websub"}, "hub.callback"),
        ({"callback": "http://localhost:8765/websub"}, "hub.callback"),  # a name, resolving private
        ({"callback": "http://does-not-exist.invalid/websub"}, "hub.callback"),
        ({"callback": "http://okur:parola@127.0.0.2/websub"}, "hub.callback"),
        ({"callback": "http://127.0.0.2:99999/websub"}, "hub.callback"),
        ({"callback": "http://127.0.0.2:25/websub"}, "hub.callback"),  # SMTP
        ({"callback": "http://127.0.0.2:9/websub"}, "hub.callback"),  # discard
        ({"callback": "https://127.0.0.2:1023/websub"}, "hub.callback"),
        ({"callback": "http://127.0.0.2:0/websub"}, "hub.callback"),
        ({"secret": "ş" * 100}, "hub.secret"),  # 200 bytes
        ({"lease_seconds": "abc"}, "hub.lease_seconds"),
        ({"lease_seconds": "0"}, "hub.lease_seconds"),
        ({"lease_seconds": "-5"}, "hub.lease_seconds"),
        ({"lease_seconds": "1.5"}, "hub.lease_seconds"),
        ({"lease_seconds": "٣"}, "hub.lease_seconds"),  # a digit, but not ASCII
    ],
)
def test_bad_request_names_the_field_and_queues_nothing(post, sent, fields, field) -> None:
    response = post(form(**fields))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (422, "invalid")
    assert [f["field"] for f in error["fields"]] == [field]
    assert error["message"].startswith(field)
    assert sent.calls == []


def test_repeated_field_is_refused(hub, sent, http_client) -> None:
    sent.calls.clear()
    body = urlencode([*form().items(), ("hub.mode", "unsubscribe")])
    response = http_client.post(hub, content=body, headers=FORM_TYPE)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "hub.mode"
    assert sent.calls == []


def test_body_must_be_a_small_utf8_form(hub, sent, http_client) -> None:
    sent.calls.clear()
    as_json = http_client.post(hub, json=form())
    assert (as_json.status_code, as_json.json()["error"]["code"]) == (415, "unsupported_media_type")
    huge = http_client.post(hub, content=b"hub.secret=" + b"x" * 20_000, headers=FORM_TYPE)
    assert huge.status_code == 413
    for not_utf8 in ("hub.mode=ç".encode("latin-1"), b"hub.mode=%E7"):
        response = http_client.post(hub, content=not_utf8, headers=FORM_TYPE)
        assert (response.status_code, response.json()["error"]["code"]) == (400, "bad_request")
    assert sent.calls == []


def test_without_send_task_there_is_no_hub(hub_settings: Settings, tmp_path: Path) -> None:
    settings = hub_settings.model_copy(update={"artifact_dir": tmp_path})
    with live_server(create_app(settings, make_store(settings))) as url:
        response = httpx.post(url + "/websub", data=form())
    assert response.status_code == 405
