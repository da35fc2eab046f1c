"""WebSub end to end: subscribers on 127.0.0.2 subscribe through the hub of a real stack, are
verified, and get a changed feed pushed, signed, after the PUT that changed it.

127.0.0.2 stands in for a public host: the stack allows that one private address
(NEWSWIRE_FETCH_ALLOW_NETWORKS), so 127.0.0.1 stays forbidden like any internal address.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import feedparser
import pytest
import redis
import requests

from devstack.stack import Stack
from shared.settings import Settings
from shared.websub import Subscriptions
from tests.conftest import DATA, Databases, running_stack, wait_until
from tests.shared.net.fetch_servers import LocalServer

pytestmark = pytest.mark.processes

SEED = json.loads((DATA / "corpus" / "seed-article.json").read_text())
FEED_PATH = "feeds/sections/dunya.rss"
SECRET = "çok-gizli-anahtar"
NEW_TITLE = "Lavrov: Şansımız hâlâ var"
# Deadlines for what the hub and the push worker do within a second or so (a dead letter
# after retries 1, 2 and 4 s apart): many times that, to fail only when it never happens.
DEADLINE_S = 30
DEAD_LETTER_DEADLINE_S = 90


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()


class _Callback(BaseHTTPRequestHandler):
    server: Subscribers
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # verification of intent: echo the challenge
        url = urlsplit(self.path)
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        self.server.record(Received("GET", url.path, query, dict(self.headers), b"", 0.0))
        self._answer(200, query.get("hub.challenge", "").encode())

    def do_POST(self) -> None:  # content distribution: /fail/... always fails
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        now = time.monotonic()
        self.server.record(Received("POST", self.path, {}, dict(self.headers), body, now))
        self._answer(500 if self.path.startswith("/fail") else 204, b"")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Subscribers(ThreadingHTTPServer):
    """Subscriber callbacks on 127.0.0.2; each subscriber is a path. Records every request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.2", 0), _Callback)
        self.received: list[Received] = []
        self._lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"http://127.0.0.2:{self.server_address[1]}{path}"

    def record(self, request: Received) -> None:
        with self._lock:
            self.received.append(request)

    def requests(self, method: str, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.method == method and r.path == path]


@pytest.fixture(scope="module")
def subscribers() -> Iterator[Subscribers]:
    server = Subscribers()
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, subscribers: Subscribers, databases: Databases
) -> Iterator[Stack]:
    with running_stack(
        databases,
        tmp_path_factory.mktemp("websub"),
        NEWSWIRE_FETCH_ALLOW_NETWORKS='["127.0.0.2/32"]',
        NEWSWIRE_WEBSUB_MAX_LEASE_S="3600",
        NEWSWIRE_WEBSUB_EXTERNAL_HUBS=json.dumps([subscribers.url("/external-hub")]),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def topic(stack: Stack) -> str:
    """The topic URL of the Dünya RSS feed, once the seed article has built it."""
    assert stack.put(SEED).status_code in (200, 201)
    wait_until(lambda: stack.feed(FEED_PATH).ok, 5)
    return f"{stack.feeds_url}/{FEED_PATH}"


@pytest.fixture(scope="module")
def subscriptions(stack: Stack) -> Subscriptions:
    """The hub's subscriptions, read straight from the stack's Redis."""
    settings = Settings(redis_url=stack.env["NEWSWIRE_REDIS_URL"])
    return Subscriptions(redis.Redis.from_url(settings.redis_url), settings)


def ask_hub(stack: Stack, mode: str, topic: str, callback: str, **extra: str) -> requests.Response:
    fields = {"hub.mode": mode, "hub.topic": topic, "hub.callback": callback}
    fields.update({f"hub.{name}": value for name, value in extra.items()})
    return requests.post(f"{stack.feeds_url}/websub", data=fields, timeout=5)


def active(subscriptions: Subscriptions, topic: str) -> set[str]:
    return {subscription.callback for subscription in subscriptions.active(topic)}


def newswire(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**env, **stack.env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def eventually(check: Callable[[], Any], what: str, timeout: float = DEADLINE_S) -> Any:
    """Poll `check` until it is truthy; fail naming `what` if it is not within `timeout`."""
    try:
        return wait_until(check, timeout)
    except pytest.fail.Exception:
        pytest.fail(f"never happened (waited {timeout} s): {what}")


def test_private_callback_is_refused_and_never_called(stack, topic, subscribers) -> None:
    forbidden = LocalServer("forbidden", "127.0.0.1", 0).start()
    try:
        refused = ask_hub(stack, "subscribe", topic, f"http://127.0.0.1:{forbidden.port}/websub")
        assert refused.status_code == 422
        assert refused.json()["error"]["fields"][0]["field"] == "hub.callback"
        # A subscription asked for afterwards is verified: anything queued before has run.
        probe = subscribers.url("/probe")
        assert ask_hub(stack, "subscribe", topic, probe, lease_seconds="1").status_code == 202
        eventually(lambda: subscribers.requests("GET", "/probe"), "the probe verified")
        assert forbidden.connections + forbidden.requests == 0
    finally:
        forbidden.stop()


def test_changed_feed_is_pushed_to_verified_subscribers_only(
    stack, topic, subscribers, subscriptions
) -> None:
    ok, fail, left, brief = (subscribers.url(p) for p in ("/ok", "/fail", "/left", "/brief"))
    # The brief lease first, so that it runs out while the others are verified.
    assert ask_hub(stack, "subscribe", topic, brief, lease_seconds="1").status_code == 202
    assert (
        ask_hub(stack, "subscribe", topic, ok, secret=SECRET, lease_seconds="9999999").status_code
        == 202
    )
    for callback in (fail, left):
        assert ask_hub(stack, "subscribe", topic, callback).status_code == 202
    eventually(lambda: {ok, fail, left} <= active(subscriptions, topic), "all three verified")
    [verification] = subscribers.requests("GET", "/ok")
    assert verification.query["hub.mode"] == "subscribe"
    assert verification.query["hub.topic"] == topic
    assert verification.query["hub.lease_seconds"] == "3600"  # capped

    assert ask_hub(stack, "unsubscribe", topic, left).status_code == 202
    eventually(lambda: left not in active(subscriptions, topic), "/left unsubscribed")
    eventually(lambda: brief not in active(subscriptions, topic), "/brief's 1 s lease run out")

    started = time.monotonic()
    assert stack.put(changed_seed()).json()["status"] == "updated"
    [delivery] = eventually(lambda: subscribers.requests("POST", "/ok"), "the change pushed")
    print(f"\nPUT → delivery to the subscriber: {(delivery.at - started) * 1000:.0f} ms")
    check_delivery(stack, topic, delivery)

    # The same bytes again (a rebuild) are not delivered again.
    rebuilt = newswire(stack, "rebuild", "feed:section:dunya")
    assert rebuilt.returncode == 0, rebuilt.stderr

    [letter] = eventually(
        subscriptions.dead_letters, "/fail's dead letter", timeout=DEAD_LETTER_DEADLINE_S
    )
    attempts = len(subscribers.requests("POST", "/fail"))
    assert attempts == 4  # the first try and a retry after each of 1, 2 and 4 s
    assert (letter.callback, letter.topic, letter.attempts) == (fail, topic, attempts)
    listed = newswire(stack, "dead-letters")
    assert listed.returncode == 0, listed.stderr
    assert fail in listed.stdout and "HTTP 500" in listed.stdout and "4 attempts" in listed.stdout

    assert len(subscribers.requests("POST", "/ok")) == 1
    assert subscribers.requests("POST", "/left") == []
    assert subscribers.requests("POST", "/brief") == []
    pings = {r.body for r in subscribers.requests("POST", "/external-hub")}
    assert urlencode({"hub.mode": "publish", "hub.url": topic}).encode() in pings
    assert [r.query["hub.mode"] for r in subscribers.requests("GET", "/left")] == [
        "subscribe",
        "unsubscribe",
    ]


def changed_seed() -> dict[str, Any]:
    later = datetime.fromisoformat(SEED["updated_at"]) + timedelta(minutes=5)
    return {**SEED, "title": NEW_TITLE, "updated_at": later.isoformat()}


def check_delivery(stack: Stack, topic: str, delivery: Received) -> None:
    served = stack.feed(FEED_PATH, **{"Accept-Encoding": "identity"})
    assert delivery.body == served.content
    assert NEW_TITLE in [entry.title for entry in feedparser.parse(delivery.body).entries]
    assert delivery.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
    assert (
        delivery.headers["Link"] == f'<{stack.feeds_url}/websub>; rel="hub", <{topic}>; rel="self"'
    )
    expected = hmac.new(SECRET.encode(), delivery.body, hashlib.sha256).hexdigest()
    assert delivery.headers["X-Hub-Signature"] == f"sha256={expected}"
