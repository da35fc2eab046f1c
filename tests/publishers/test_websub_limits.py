"""The WebSub hub of a real stack (default limits: 30 requests a minute per client, 10
verifications pending per callback host) is no reflector: a burst of 300 subscriptions from
one client to one callback host reaches that host a few dozen times at most, the rest
answered 429 with Retry-After; callbacks on ports like :25 and :9 are refused.

The callback host is a server on 127.0.0.2 (the stack lets the fetcher call it) that counts
what it gets and declines every verification, so no subscription outlives the module. Each
test connects from an address of its own (127.0.0.5, ...): the hub counts clients by the
connection's peer, which is what granian reports, whatever X-Forwarded-For says.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import redis

from devstack.stack import Stack
from shared.settings import Settings
from shared.websub_limits import VerifySlots
from tests.conftest import wait_until

pytestmark = pytest.mark.processes

SECTION_FEED = "feeds/sections/websub-siniri.rss"
ARTICLE = {
    "id": "websub-limits-1",
    "url": "https://haber.example.com.tr/websub-siniri/yansitici-degil",
    "title": "WebSub merkezi yansıtıcı değil",
    "summary": "Bir istemciden gelen 300 abonelik isteği sınırlara takılır.",
    "body_html": "<p>Doğrulama istekleri sınırlı.</p>",
    "section": "WebSub Sınırı",
    "tags": ["WebSub Sınırı Etiketi"],
    "authors": [{"name": "WebSub Sınırı Muhabiri"}],
    "published_at": "2026-01-18T11:42:00+03:00",
}
BURST = 300
PER_MINUTE = Settings().websub_subscribe_per_minute  # the stack runs the defaults
# Deadlines for what takes a second or so: many times that.
DEADLINE_S = 30


class _Callback(BaseHTTPRequestHandler):
    server: CallbackHost
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # a verification of intent: counted, then declined
        self.server.count()
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


class CallbackHost(ThreadingHTTPServer):
    """A callback host on 127.0.0.2 that counts the requests it gets."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.2", 0), _Callback)
        self.requests = 0
        self._lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"http://127.0.0.2:{self.server_address[1]}{path}"

    def count(self) -> None:
        with self._lock:
            self.requests += 1


@pytest.fixture(scope="module")
def callback_host() -> Iterator[CallbackHost]:
    server = CallbackHost()
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def topic(publishers_stack: Stack) -> str:
    """The topic URL of this module's own section feed, once built."""
    assert publishers_stack.put(ARTICLE).status_code in (200, 201)
    wait_until(lambda: publishers_stack.feed(SECTION_FEED).ok, DEADLINE_S)
    return f"{publishers_stack.feeds_url}/{SECTION_FEED}"


@pytest.fixture(scope="module")
def slots(publishers_stack: Stack) -> VerifySlots:
    """The hub's verification slots, read straight from the stack's Redis."""
    settings = Settings(redis_url=publishers_stack.env["NEWSWIRE_REDIS_URL"])
    return VerifySlots.from_settings(redis.Redis.from_url(settings.redis_url), settings)


def form(topic: str, callback: str) -> dict[str, str]:
    return {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": callback}


def post_from(address: str, hub: str, fields: dict[str, str], **headers: str) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(transport=transport, timeout=10) as client:
        return client.post(hub, data=fields, headers=headers)


async def burst(address: str, hub: str, fields: dict[str, str]) -> list[httpx.Response]:
    """`BURST` requests at once from `address`, each claiming another forwarded address."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(transport=transport, limits=limits, timeout=30) as client:
        return await asyncio.gather(
            *(
                client.post(hub, data=fields, headers={"X-Forwarded-For": f"198.51.100.{i % 250}"})
                for i in range(BURST)
            )
        )


def test_a_burst_of_subscriptions_reaches_the_callback_host_a_few_times(
    publishers_stack: Stack, topic: str, callback_host: CallbackHost, slots: VerifySlots
) -> None:
    hub = f"{publishers_stack.feeds_url}/websub"
    callback = callback_host.url("/burst")
    responses = asyncio.run(burst("127.0.0.5", hub, form(topic, callback)))

    accepted = [r for r in responses if r.status_code == 202]
    refused = [r for r in responses if r.status_code == 429]
    assert len(accepted) + len(refused) == BURST, {r.status_code for r in responses}
    assert 1 <= len(accepted) <= PER_MINUTE
    for response in refused:
        error = response.json()["error"]
        assert (error["status"], error["code"]) == (429, "rate_limited")
        assert 1 <= int(response.headers["Retry-After"]) <= 60

    # Every accepted verification ends (declined), freeing its slot; each made one request.
    wait_until(lambda: slots.held(callback) == 0, DEADLINE_S)
    print(f"\n{BURST} subscriptions: {len(accepted)} accepted, {callback_host.requests} requests")
    assert callback_host.requests == len(accepted) <= 40

    # The client stays over its window, whatever address it claims; another client is not.
    again = post_from("127.0.0.5", hub, form(topic, callback), **{"X-Forwarded-For": "192.0.2.1"})
    assert again.status_code == 429 and int(again.headers["Retry-After"]) >= 1
    assert f"{PER_MINUTE} requests a minute from one client" in again.json()["error"]["message"]
    assert post_from("127.0.0.6", hub, form(topic, callback)).status_code == 202
    wait_until(lambda: callback_host.requests == len(accepted) + 1, DEADLINE_S)


@pytest.mark.parametrize("port", [25, 9])
def test_a_callback_on_a_low_port_is_refused(
    publishers_stack: Stack, topic: str, port: int
) -> None:
    hub = f"{publishers_stack.feeds_url}/websub"
    response = post_from("127.0.0.7", hub, form(topic, f"http://127.0.0.2:{port}/websub"))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert [f["field"] for f in error["fields"]] == ["hub.callback"]
    assert error["message"] == "hub.callback must be on port 80, 443 or 1024 and up"
