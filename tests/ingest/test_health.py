"""Liveness, readiness, and what every route answers while Redis hangs.

/healthz answers whatever Redis does; /readyz says whether Redis answers (503 with
Retry-After while it is away, 200 once it is back); every route that needs Redis answers
503 with Retry-After in the one error shape while Redis hangs, never a 500, and works again
once Redis moves. The service runs in this process, on a Valkey of the test's own that is
killed, or hung with SIGSTOP (connections open, nothing answers).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
import requests

from devstack.redis_server import RedisServer
from services.cli.api_keys import create_key
from services.ingest.app import create_app
from shared.settings import Settings
from tests.conftest import API_KEY, live_server, wait_until
from tests.redis_hang import hung

ANSWER_S = 10  # a request's deadline: many times what any answer here takes
STATE_S = 15  # for /readyz to notice a change: many times its probe's pace


def get(url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers=headers, timeout=ANSWER_S)


def assert_live(url: str) -> None:
    response = get(f"{url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def readyz(url: str) -> tuple[int, dict[str, Any], str | None]:
    response = get(f"{url}/readyz")
    return response.status_code, response.json(), response.headers.get("retry-after")


def wait_unready(url: str) -> None:
    wait_until(lambda: readyz(url)[0] == 503, timeout=STATE_S, interval=0.1)
    assert readyz(url) == (503, {"status": "unavailable", "redis": "down"}, "1")


def wait_ready(url: str) -> None:
    wait_until(lambda: readyz(url)[0] == 200, timeout=STATE_S, interval=0.1)
    assert readyz(url)[1] == {"status": "ready", "redis": "up"}


def on(server: RedisServer, settings: Settings, **update: Any) -> Settings:
    return settings.model_copy(update={"redis_url": server.url, **update})


def test_healthz_answers_with_redis_hung_and_killed(
    own_redis_server: RedisServer, settings: Settings
) -> None:
    with live_server(create_app(on(own_redis_server, settings))) as url:
        assert_live(url)
        with hung(own_redis_server):
            assert_live(url)
        own_redis_server.kill()
        assert_live(url)


def test_readyz_says_whether_redis_answers(
    own_redis_server: RedisServer, settings: Settings
) -> None:
    with live_server(create_app(on(own_redis_server, settings))) as url:
        assert readyz(url) == (200, {"status": "ready", "redis": "up"}, None)
        with hung(own_redis_server):
            wait_unready(url)
        wait_ready(url)
        own_redis_server.kill()
        wait_unready(url)


def test_every_route_that_needs_redis_answers_503_while_redis_hangs(
    own_redis_server: RedisServer, settings: Settings, seed_article: dict[str, Any]
) -> None:
    """On two services: one with rate limits (a configured key's first Redis call is its rate
    limit), one without (it is the article's read or write); keys kept in Redis are looked up
    first either way."""
    client = redis.Redis.from_url(own_redis_server.url)
    stored_writer, _ = create_key(client, "newsroom", ["articles:write"])
    admin, _ = create_key(client, "operations", ["admin"])
    client.close()
    limited = create_app(on(own_redis_server, settings))
    unlimited = create_app(on(own_redis_server, settings, rate_limit_per_s=0))
    with live_server(limited) as limited_url, live_server(unlimited) as unlimited_url:
        calls = []
        for url in (limited_url, unlimited_url):
            for key in (API_KEY, stored_writer):
                raw = {**seed_article, "id": f"{seed_article['id']}-{len(calls)}"}
                article = f"{url}/v1/articles/{raw['id']}"
                auth = {"Authorization": f"Bearer {key}"}
                calls += [
                    ("PUT", article, {"json": raw, "headers": auth}),
                    ("GET", article, {"headers": auth}),
                    ("DELETE", article, {"headers": auth}),
                    (
                        "POST",
                        f"{url}/v1/articles:batch",
                        {"json": {"articles": [raw]}, "headers": auth},
                    ),
                ]
            calls.append(
                ("GET", f"{url}/v1/keys", {"headers": {"Authorization": f"Bearer {admin}"}})
            )

        def send(call: tuple[str, str, dict[str, Any]]) -> requests.Response:
            method, url, options = call
            return requests.request(method, url, timeout=ANSWER_S, **options)

        # Each works while Redis answers (an article of its own for each key and service).
        for call in calls:
            assert send(call).status_code in (200, 201), call[:2]

        with hung(own_redis_server), ThreadPoolExecutor(len(calls)) as pool:
            answers = list(pool.map(send, calls))
        for (method, url, _), answer in zip(calls, answers, strict=True):
            assert answer.status_code == 503, (method, url, answer.text)
            assert answer.headers["retry-after"] == "1", (method, url)
            assert answer.json() == {
                "error": {
                    "status": 503,
                    "code": "unavailable",
                    "message": "storage unavailable; retry shortly",
                    "fields": [],
                }
            }

        # Nothing stays broken: timed-out connections are dropped, new ones answer (the GET
        # says the article was retracted: Redis was read).
        for call in calls:
            assert send(call).status_code in (200, 410), call[:2]


def test_a_full_redis_refuses_writes_with_503_and_still_answers_reads(
    own_redis_server: RedisServer, settings: Settings, seed_article: dict[str, Any]
) -> None:
    """maxmemory reached under noeviction: a write is refused with 503 and Retry-After (the
    client retries once room is made), nothing half-written; what is stored is still read."""
    client = redis.Redis.from_url(own_redis_server.url)
    auth = {"Authorization": f"Bearer {API_KEY}"}
    with live_server(create_app(on(own_redis_server, settings, rate_limit_per_s=0))) as url:
        stored = f"{url}/v1/articles/{seed_article['id']}"
        assert requests.put(stored, json=seed_article, headers=auth, timeout=ANSWER_S).ok
        newer = {**seed_article, "id": f"{seed_article['id']}-full", "title": "Dolu"}
        refused = f"{url}/v1/articles/{newer['id']}"
        client.config_set("maxmemory", max(client.info("memory")["used_memory"] // 2, 1))
        try:
            answer = requests.put(refused, json=newer, headers=auth, timeout=ANSWER_S)
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "1"
            assert answer.json()["error"]["code"] == "unavailable"
            assert get(stored, **auth).status_code == 200
        finally:
            client.config_set("maxmemory", 0)
        assert get(refused, **auth).status_code == 404  # nothing of it was stored
        answer = requests.put(refused, json=newer, headers=auth, timeout=ANSWER_S)
        assert answer.status_code == 201, answer.text
    client.close()
