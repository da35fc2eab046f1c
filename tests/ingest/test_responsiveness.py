"""The ingest process stays responsive under hostile load: while clients keep sending the
most expensive bodies the limits accept (or batches of 1,000), /healthz keeps answering.

Every probe is answered, and PROBES of them while a load request is in flight (one that
falls in a pause of the load, while its clients make their next bodies, is not counted); the
load goes on being answered between the probes, so neither waits for the other to finish.
How fast the probes are answered depends on the machine and is not asserted here; the
latencies are printed.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from bench.sanitize_cost import EXPENSIVE_KINDS, expensive_body
from devstack.redis_server import free_port
from devstack.services import Processes, wait_http
from tests.conftest import API_KEY, API_KEYS, Databases, database

pytestmark = pytest.mark.processes

HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
PROBES = 20  # /healthz probes per test, at least; 20 ms apart
# Answers to the load while probed: the second was sent after the first came, so one whole
# request of the load was sent and answered while the probes went on.
LOAD_ANSWERS = 2
PROBE_TIMEOUT_S = 10.0  # a probe must be answered; how fast is a benchmark's business
LOAD_DEADLINE_S = 120.0  # for the load to be answered as often as a test asks

# A sender makes its next request (session.request's arguments) before it counts as sent.
Sender = Callable[[], dict[str, Any]]


@pytest.fixture(scope="module")
def ingest(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m services.ingest`, as in production but in one uvicorn process, so that every
    probe reaches the process doing the load's work; one for the module. What a test leaves
    in flight ends during the next one, as more load; at the end it is killed, not waited
    for: its answers would prove nothing more."""
    port = free_port()
    with database(databases) as url:
        processes = Processes(
            {
                "NEWSWIRE_REDIS_URL": url,
                "NEWSWIRE_API_KEYS": json.dumps(API_KEYS),
                "NEWSWIRE_INGEST_PORT": str(port),
                "NEWSWIRE_INGEST_WORKERS": "1",
                "NEWSWIRE_RATE_LIMIT_PER_S": "0",
            },
            tmp_path_factory.mktemp("responsiveness") / "logs",
        )
        process = processes.start("ingest")
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz", timeout=30, process=process)
            yield f"http://127.0.0.1:{port}"
        finally:
            processes.kill("ingest")


def article(seed: dict[str, Any], article_id: str, body: str) -> dict[str, Any]:
    return {**seed, "id": article_id, "body_html": body}


@dataclass
class Load:
    """Senders in threads, each sending back to back until stopped; records each request's
    status and when it was sent and answered (time.monotonic()). Requests still in flight
    when it stops are left to the ingest process: their answers prove nothing more."""

    senders: list[Sender]
    statuses: Counter[int] = field(default_factory=Counter)
    spans: list[list[float]] = field(default_factory=list)  # [sent, answered (inf: not yet)]
    errors: list[Exception] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        self.threads = [
            threading.Thread(target=self._run, args=(s,), daemon=True) for s in self.senders
        ]
        for thread in self.threads:
            thread.start()
        while len(self.spans) < len(self.senders):  # every sender's first request is out
            time.sleep(0.001)
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()

    def _run(self, sender: Sender) -> None:
        with requests.Session() as session:
            while not self.stop.is_set():
                request = sender()
                span = [time.monotonic(), float("inf")]
                with self._lock:
                    self.spans.append(span)
                try:
                    status = session.request(**request).status_code
                except Exception as exc:  # reported by the test, not lost in the thread
                    if not self.stop.is_set():
                        self.errors.append(exc)
                    return
                with self._lock:
                    span[1] = time.monotonic()
                    self.statuses[status] += 1

    def answered_since(self, moment: float) -> int:
        with self._lock:
            return sum(moment <= answered < float("inf") for _, answered in self.spans)

    def in_flight_at(self, moment: float) -> bool:
        with self._lock:
            return any(sent <= moment <= answered for sent, answered in self.spans)


def probe_under(url: str, load: Load, what: str) -> list[tuple[float, float]]:
    """Probe /healthz, 20 ms apart, until PROBES probes are answered while a load request is
    in flight (one answered in a pause of the load, while its clients make their next
    bodies, proves nothing and is not counted) and the load has had LOAD_ANSWERS answers
    since the first probe; returns each counted probe's (sent, answered)."""
    probes: list[tuple[float, float]] = []
    first_sent = float("inf")
    deadline = time.monotonic() + LOAD_DEADLINE_S
    with requests.Session() as session:
        while len(probes) < PROBES or load.answered_since(first_sent) < LOAD_ANSWERS:
            if time.monotonic() > deadline or load.errors:
                pytest.fail(
                    f"while {what}: {len(probes)} probes answered, and the load "
                    f"{load.statuses.total()} times ({load.errors or 'no errors'}) "
                    f"in {LOAD_DEADLINE_S} s"
                )
            sent = time.monotonic()
            try:
                response = session.get(f"{url}/healthz", timeout=PROBE_TIMEOUT_S)
            except requests.Timeout:
                pytest.fail(f"/healthz was not answered within {PROBE_TIMEOUT_S} s while {what}")
            answered = time.monotonic()
            assert response.status_code == 200, response.text
            assert response.json() == {"status": "ok"}
            first_sent = min(first_sent, sent)
            if load.in_flight_at(answered):
                probes.append((sent, answered))
            time.sleep(0.02)
    return probes


def check(what: str, load: Load, probes: list[tuple[float, float]]) -> None:
    assert not load.errors, load.errors
    latencies = sorted(answered - sent for sent, answered in probes)
    print(
        f"\n/healthz while {what}: n={len(latencies)} "
        f"p50={statistics.median(latencies) * 1000:.1f} ms max={latencies[-1] * 1000:.1f} ms; "
        f"load answers: {dict(load.statuses)}"
    )
    # Each counted probe was answered during the load, not in a pause of it.
    assert all(load.in_flight_at(answered) for _, answered in probes)


def test_health_answers_while_four_clients_send_the_costliest_bodies(ingest, seed_article):
    # Each body is made when first sent: finding one takes long, and the load seldom gets
    # through them all before the probes are done.
    bodies: dict[int, bytes] = {}
    making = threading.Lock()

    def body(i: int) -> bytes:
        with making:
            if i not in bodies:
                found = expensive_body(EXPENSIVE_KINDS[i])
                bodies[i] = json.dumps(article(seed_article, f"agir-{i}", found)).encode()
            return bodies[i]

    def client(number: int) -> Sender:
        turn = iter(range(10**9))

        def request() -> dict[str, Any]:
            i = (next(turn) + number) % len(EXPENSIVE_KINDS)
            url = f"{ingest}/v1/articles/agir-{i}"
            return {"method": "PUT", "url": url, "data": body(i), "headers": HEADERS, "timeout": 60}

        return request

    what = "4 clients send the costliest valid bodies"
    with Load([client(n) for n in range(4)]) as load:
        probes = probe_under(ingest, load, what)
    check(what, load, probes)
    assert set(load.statuses) <= {200, 201}, load.statuses  # every body was valid, and stored


def test_health_answers_while_batches_of_1000_are_validated(ingest, seed_article):
    # As many articles as a batch may hold (max_batch_items), each an ordinary one.
    items = [article(seed_article, f"toplu-{i}", seed_article["body_html"]) for i in range(1000)]
    batch = json.dumps({"articles": items}).encode()
    url = f"{ingest}/v1/articles:batch"
    request = {"method": "POST", "url": url, "data": batch, "headers": HEADERS, "timeout": 120}

    what = "batches of 1,000 are validated"
    with Load([lambda: request]) as load:
        probes = probe_under(ingest, load, what)
    check(what, load, probes)
    assert set(load.statuses) == {200}, load.statuses
