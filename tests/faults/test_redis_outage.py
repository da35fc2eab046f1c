"""Redis hung, then killed and restarted (AOF on) under a steady load of writes, with every
process real, over both artifact stores in turn (one stack: its workers and feeds service,
which hold the store, start afresh on the second; ingest and the dispatcher live through
both outages):

- ingest answers 503 with Retry-After while Redis is away, never 500, and every write it
  acknowledged before, during or after is there once Redis is back;
- the feeds service keeps serving the feed it holds, and its /healthz (liveness), while
  Redis is down and while it is hung: with Redis hung, they are answered while a request
  for a path it does not hold is still waiting on Redis; its /readyz says Redis is down
  (503, with Retry-After) and up again once it is back;
- the dispatcher and the workers reconnect by themselves: a canary article written after
  Redis's return reaches its feed.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
import requests

from devstack.services import wait_http
from devstack.stack import Stack
from shared.state import redis_keys
from tests.conftest import API_KEY, make_stack, wait_until

pytestmark = pytest.mark.processes

FEED = "feeds/sections/dunya.rss"  # the seed's and the canary's; the load writes elsewhere
PROBES = 5  # requests of /healthz and of the held feed, each, per phase
# Deadlines for outcomes, many times what they take: an answer of the feeds service, and the
# canary, which waits for Celery's reconnection schedule (2 s, then 4 s more, ...).
ANSWER_DEADLINE_S = 10
CANARY_DEADLINE_S = 60
# Writes go on before, during and after each outage either way: a steady trickle meets it
# as surely as a flood, and 503s answered at once do not spin the client and ingest.
LOAD_PAUSE_S = 0.15
POLL_S = 0.1


@pytest.fixture(scope="module")
def server_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack on a Redis server of its own, with AOF on, for both stores in turn."""
    stack = make_stack(tmp_path_factory.mktemp("outage"), NEWSWIRE_STORE_BACKEND="filesystem")
    try:
        # AOF on from here, and on every restart of the same server (same port, same dir).
        client = redis.Redis.from_url(stack.redis.url, decode_responses=True)
        client.config_set("appendonly", "yes")
        wait_until(lambda: _aof_written(client), timeout=20)
        client.close()
        stack.redis.persistent = True
        yield stack
    finally:
        stack.stop()


@pytest.fixture(params=["filesystem", "redis"])
def outage_stack(request: pytest.FixtureRequest, server_stack: Stack) -> Iterator[Stack]:
    """The stack on the store of the parameter. Only the workers and the feeds service hold
    an artifact store: they start afresh on it, while ingest and the dispatcher run on."""
    stack, backend = server_stack, request.param
    if stack.env["NEWSWIRE_STORE_BACKEND"] != backend:
        stack.env["NEWSWIRE_STORE_BACKEND"] = backend
        stack.processes.env["NEWSWIRE_STORE_BACKEND"] = backend
        stack.processes.kill("feeds")
        stack.processes.start("feeds")
        stack.processes.kill("worker")
        stack.restart_worker()
        wait_http(stack.feeds_url + "/readyz", process=stack.processes.running["feeds"])
    yield stack
    # Whatever the test left, the next one starts with Redis up.
    server = stack.redis
    if server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)
    else:
        server.start()


def _aof_written(client: redis.Redis) -> bool:
    info = client.info("persistence")
    return bool(
        info["aof_enabled"]
        and not info["aof_rewrite_in_progress"]
        and not info["aof_rewrite_scheduled"]
    )


@dataclass
class Load:
    """New articles PUT one after another by one client, a pause between them, every answer
    recorded."""

    stack: Stack
    raw: dict[str, Any]
    prefix: str  # of the articles' ids
    answers: list[tuple[str, int, str | None]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {API_KEY}"
        n = 0
        while not self.stop.is_set():
            article_id = f"load-{self.prefix}-{n}"
            # In a section, tag and byline of its own: the seed's feeds stay as they are.
            published = f"2025-12-01T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}+03:00"
            article = {
                **{k: v for k, v in self.raw.items() if k != "updated_at"},
                "id": article_id,
                "title": f"Yük haberi {n}",
                "published_at": published,
                "section": "Ekonomi",
                "tags": ["Piyasalar"],
                "authors": [{"name": "Ekonomi Servisi"}],
            }
            url = f"{self.stack.ingest_url}/v1/articles/{article_id}"
            response = session.put(url, json=article, timeout=30)
            self.answers.append(
                (article_id, response.status_code, response.headers.get("retry-after"))
            )
            n += 1
            self.stop.wait(LOAD_PAUSE_S)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


def assert_served(stack: Stack, feed_body: bytes, what: str) -> tuple[list[float], str]:
    """/healthz and the held feed are answered, PROBES times each (alternating), the feed
    byte for byte as held. Returns when each answer came (time.monotonic()), and for the
    record the slowest answer of each."""
    answers: list[float] = []
    slowest = dict.fromkeys(("healthz", FEED), 0.0)
    for _ in range(PROBES):
        for path in slowest:
            started = time.monotonic()
            try:
                response = requests.get(f"{stack.feeds_url}/{path}", timeout=ANSWER_DEADLINE_S)
            except requests.Timeout:
                pytest.fail(f"{what}: /{path} not answered within {ANSWER_DEADLINE_S} s")
            answers.append(time.monotonic())
            slowest[path] = max(slowest[path], answers[-1] - started)
            assert response.status_code == 200, (what, path, response.text)
            if path == FEED:
                assert response.content == feed_body
    return answers, ", ".join(f"/{path} {s * 1000:.1f} ms" for path, s in slowest.items())


def redis_state(stack: Stack) -> str:
    """What the feeds service's /readyz says of Redis; its status agrees."""
    response = requests.get(f"{stack.feeds_url}/readyz", timeout=5)
    state = response.json()["redis"]
    if state == "up":
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
    return state


class Waiting:
    """A GET of a path the feeds service does not hold, answered in a thread; notes when
    its answer came (time.monotonic())."""

    def __init__(self, url: str) -> None:
        self.response: requests.Response | None = None
        self.answered = float("inf")
        self.thread = threading.Thread(target=self._get, args=(url,), daemon=True)
        self.thread.start()

    def _get(self, url: str) -> None:
        self.response = requests.get(url, timeout=30)
        self.answered = time.monotonic()


def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check` until it is truthy; fail naming `what` if it is not within `timeout`."""
    try:
        return wait_until(check, timeout, interval=POLL_S)
    except pytest.fail.Exception:
        pytest.fail(f"never happened (waited {timeout} s): {what}")


def test_redis_hung_then_restarted_under_load(outage_stack: Stack, seed_article, request):
    stack = outage_stack
    backend = request.node.callspec.params["outage_stack"]
    server = stack.redis
    db = redis.Redis.from_url(server.url)
    # Articles of this store's turn alone: the seed, the load's and the canary.
    seed = {
        **seed_article,
        "id": f"{seed_article['id']}-{backend}",
        "url": f"{seed_article['url']}-{backend}",
        "title": f"{seed_article['title']} ({backend})",
    }
    assert stack.put(seed).status_code == 201
    wait_until(
        lambda: seed["title"].encode() in stack.feed(FEED).content,
        timeout=20,
        interval=POLL_S,
    )
    time.sleep(0.5)  # the feeds service has subscribed to announcements and holds the feed
    feed_body = stack.feed(FEED).content
    assert redis_state(stack) == "up"

    with Load(stack, seed, backend) as load:
        wait_until(lambda: len(load.answers) >= 10, timeout=20, interval=POLL_S)

        # Hung: the process is stopped; connections open, nothing answers.
        os.kill(server.process.pid, signal.SIGSTOP)
        wait_until(lambda: redis_state(stack) == "down", timeout=10, interval=POLL_S)
        unknown = Waiting(f"{stack.feeds_url}/feeds/sections/yok.rss")
        # Long enough for it to reach the service; it waits there for a request's Redis
        # timeout (NEWSWIRE_REDIS_REQUEST_TIMEOUT_S, 0.5 s), the answers below meanwhile.
        time.sleep(0.1)
        answers, hung = assert_served(stack, feed_body, f"{backend}, Redis hung")
        if backend == "redis":
            # Answered while that lookup still waited on Redis, not after it. (Were they
            # queued behind it, one at most could seem to come first, by a thread's race.)
            early = sum(answer < unknown.answered for answer in answers)
            assert early >= 2, f"{early} of {len(answers)} answers came before Redis let go"
        os.kill(server.process.pid, signal.SIGCONT)
        unknown.thread.join(timeout=30)
        assert unknown.response is not None
        # Answered once Redis moved again (or 503 had its timeout come first), never a 500.
        assert unknown.response.status_code in ((404, 503) if backend == "redis" else (404,))
        if unknown.response.status_code == 503:
            assert unknown.response.headers["retry-after"] == "1"
        wait_until(lambda: redis_state(stack) == "up", timeout=10, interval=POLL_S)

        # Down: killed outright, then started again on the same port and data directory.
        answered_before_kill = len(load.answers)
        server.kill()
        wait_until(lambda: redis_state(stack) == "down", timeout=10, interval=POLL_S)
        _, down = assert_served(stack, feed_body, f"{backend}, Redis down")
        missing = requests.get(f"{stack.feeds_url}/feeds/sections/yok.rss", timeout=5)
        assert missing.status_code == (503 if backend == "redis" else 404)
        wait_until(
            lambda: len(load.answers) > answered_before_kill + 3, timeout=20, interval=POLL_S
        )
        time.sleep(6.0)  # past Celery's own reconnection schedule (2 s, then 4 s more, …)
        server.start()
        back = time.monotonic()

        canary = {
            **seed,
            "id": f"canary-{backend}",
            "url": f"{seed_article['url']}-canary-{backend}",
            "title": f"Kanarya {backend}: Redis döndü",
            "published_at": "2026-01-18T12:30:00+03:00",
            "updated_at": "2026-01-18T12:30:00+03:00",
        }
        eventually(
            lambda: stack.put(canary).status_code in (200, 201),
            CANARY_DEADLINE_S,
            "the canary accepted by ingest after Redis's return",
        )
        eventually(
            lambda: f"Kanarya {backend}".encode() in stack.feed(FEED).content,
            CANARY_DEADLINE_S,
            "the canary in its feed: the dispatcher and workers reconnected",
        )
        reached = time.monotonic() - back
        print(f"{backend}: canary in its feed {reached:.2f}s after Redis's return")
        wait_until(lambda: redis_state(stack) == "up", timeout=10, interval=POLL_S)
        # Writes after the return too, among those checked below.
        answered_after_return = len(load.answers)
        wait_until(
            lambda: len(load.answers) > answered_after_return + 10, timeout=30, interval=POLL_S
        )

    statuses = [status for _, status, _ in load.answers]
    print(
        f"{backend}: {len(statuses)} writes: "
        + ", ".join(f"{statuses.count(s)}× {s}" for s in sorted(set(statuses)))
    )
    assert 500 not in statuses
    assert set(statuses) <= {200, 201, 503}, set(statuses)
    assert statuses.count(503) >= 1  # the load did meet the outage
    assert all(retry == "1" for _, status, retry in load.answers if status == 503)
    acknowledged = [article_id for article_id, status, _ in load.answers if status in (200, 201)]
    pipe = db.pipeline(transaction=False)
    for article_id in acknowledged:
        pipe.hexists(redis_keys.article(article_id), "doc")
    lost = [a for a, kept in zip(acknowledged, pipe.execute(), strict=True) if not kept]
    assert not lost, f"{len(lost)} acknowledged writes lost: {lost[:5]}"
    print(f"{backend}: slowest answers with Redis hung: {hung}; down: {down}")
