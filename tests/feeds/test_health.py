"""Liveness, readiness, and what the feeds service answers while Redis hangs.

The service runs as `python -m services.feeds` makes it (the Redis store here, and the
WebSub hub queueing on a real broker), in this process, on a Valkey of the test's own that
is killed, or hung with SIGSTOP (connections open, nothing answers). /healthz answers
whatever Redis does; /readyz reports Redis and the broker (503 with Retry-After while one is
away); what needs Redis (the hub, a path the service does not hold) answers 503 with
Retry-After in the error shape while Redis hangs, and the feed it holds is still served.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.redis_server import RedisServer, free_port
from services.feeds.app import create_app
from shared.settings import Settings
from shared.store import make_store
from shared.store.artifacts import encode
from shared.task_sender import TaskSender
from tests.conftest import live_server, wait_until
from tests.feeds.conftest import feed_body
from tests.redis_hang import hung

BASE = "http://127.0.0.1:8080/"
FEED = "feeds/sections/dunya.rss"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CALLBACK = "http://127.0.0.2:8765/websub"  # 127.0.0.2 stands in for a public host
ANSWER_S = 10  # a request's deadline: many times what any answer here takes
STATE_S = 15  # for /readyz to notice a change: many times its probe's pace


def feeds_settings(tmp_path: Path, redis_url: str, **update: Any) -> Settings:
    defaults: dict[str, Any] = {
        "artifact_dir": tmp_path / "artifacts",
        "store_backend": "redis",
        "feeds_base_url": BASE,
        "fetch_allow_networks": ["127.0.0.2/32"],
        "readiness_interval_s": 0.1,  # /readyz notices a change within a tenth of a second
    }
    return Settings(redis_url=redis_url, **{**defaults, **update})


@pytest.fixture
def feeds(own_redis_server: RedisServer, tmp_path: Path) -> Iterator[str]:
    """The service with the hub, holding FEED in memory: its store (made as the service
    makes its own) is told of changes, so it may serve what it holds."""
    # Tests here poll the hub until Redis is back, and no worker ever ends a verification: the
    # hub's limits are not what they look at.
    settings = feeds_settings(
        tmp_path,
        own_redis_server.url,
        websub_subscribe_per_minute=0,
        websub_pending_per_host=1000,
        websub_verify_queue_max=1000,
    )
    store = make_store(settings, redis_timeout_s=settings.redis_request_timeout_s)
    assert store.publish("feed:section:dunya", [encode(FEED, feed_body("held"), 5)], "1-0")
    assert store.get(FEED) is not None  # starts listening to announcements
    wait_until(store._listening.is_set, timeout=STATE_S)
    assert store.get(FEED) is not None  # held from now on
    send_task = TaskSender(settings.celery_broker_url)
    with live_server(create_app(settings, store, send_task)) as url:
        yield url
    send_task.close()


def readyz(url: str) -> tuple[int, dict[str, Any], str | None]:
    response = requests.get(f"{url}/readyz", timeout=ANSWER_S)
    return response.status_code, response.json(), response.headers.get("retry-after")


def assert_live(url: str) -> None:
    response = requests.get(f"{url}/healthz", timeout=ANSWER_S)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def wait_readyz(url: str, status: int) -> tuple[int, dict[str, Any], str | None]:
    wait_until(lambda: readyz(url)[0] == status, timeout=STATE_S, interval=0.1)
    return readyz(url)


READY = (200, {"status": "ready", "redis": "up", "broker": "up"}, None)
UNAVAILABLE = (503, {"status": "unavailable", "redis": "down", "broker": "down"}, "1")


def subscription(mode: str) -> dict[str, str]:
    return {"hub.mode": mode, "hub.topic": BASE + FEED, "hub.callback": CALLBACK}


def test_healthz_answers_with_redis_hung_and_killed(
    feeds: str, own_redis_server: RedisServer
) -> None:
    assert_live(feeds)
    with hung(own_redis_server):
        assert_live(feeds)
    own_redis_server.kill()
    assert_live(feeds)


def test_readyz_reports_redis_and_the_broker(feeds: str, own_redis_server: RedisServer) -> None:
    assert readyz(feeds) == READY
    with hung(own_redis_server):
        assert wait_readyz(feeds, 503) == UNAVAILABLE
    assert wait_readyz(feeds, 200) == READY
    own_redis_server.kill()
    assert wait_readyz(feeds, 503) == UNAVAILABLE


def test_readyz_checks_what_the_service_uses(own_redis_server: RedisServer, tmp_path: Path) -> None:
    """Without the hub, a filesystem store needs no Redis; a broker of its own is reported
    apart from Redis."""
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    alone = feeds_settings(tmp_path, nowhere, store_backend="filesystem")
    with live_server(create_app(alone)) as url:
        assert readyz(url) == (200, {"status": "ready"}, None)
    split = feeds_settings(tmp_path, own_redis_server.url, broker_url=nowhere)
    send_task = TaskSender(split.celery_broker_url)
    with live_server(create_app(split, send_task=send_task)) as url:
        assert readyz(url) == (503, {"status": "unavailable", "redis": "up", "broker": "down"}, "1")
    send_task.close()


def test_what_needs_redis_answers_503_while_redis_hangs(
    feeds: str, own_redis_server: RedisServer
) -> None:
    def send(call: tuple[str, str, dict[str, Any]]) -> requests.Response:
        method, path, options = call
        return requests.request(method, f"{feeds}/{path}", timeout=ANSWER_S, **options)

    calls = [
        ("POST", "websub", {"data": subscription("subscribe"), "headers": FORM}),
        ("POST", "websub", {"data": subscription("unsubscribe"), "headers": FORM}),
        ("GET", "feeds/sections/yok.rss", {}),
    ]
    assert [send(call).status_code for call in calls] == [202, 202, 404]

    with hung(own_redis_server), ThreadPoolExecutor(len(calls) + 1) as pool:
        held = pool.submit(send, ("GET", FEED, {}))
        answers = list(pool.map(send, calls))
        assert held.result().status_code == 200  # what it holds, it serves
        assert held.result().content == feed_body("held")
    for (method, path, _), answer in zip(calls, answers, strict=True):
        assert answer.status_code == 503, (method, path, answer.text)
        assert answer.headers["retry-after"] == "1", (method, path)
        error = answer.json()["error"]
        assert (error["status"], error["code"], error["fields"]) == (503, "unavailable", [])

    # Redis moves again: so does everything.
    wait_until(
        lambda: [send(call).status_code for call in calls] == [202, 202, 404],
        timeout=STATE_S,
        interval=0.1,
    )
