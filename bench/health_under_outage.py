"""Health checks and failure answers while Redis is away: /healthz latency with Redis stopped
or hung, and how soon a route that needs Redis answers 503 while Redis hangs.

    .venv/bin/python -m bench.health_under_outage [--requests 500] [--hung-requests 20]

Starts ingest (`python -m services.ingest`, its default worker processes) and the feeds
service (`python -m services.feeds`: granian, the Redis store, the WebSub hub) on a Valkey of
their own, as `make run` starts them. With Redis hung (SIGSTOP: connections open, nothing
answered), it times one request after another to a route of each service that needs Redis
(ingest's PUT of an article, the hub's POST /websub, a GET of a path the feeds service does
not hold): each must be a 503 with Retry-After, within a request's Redis timeout
(`NEWSWIRE_REDIS_REQUEST_TIMEOUT_S`, 0.5 s). It times `--requests` GETs of /healthz on one
kept-alive connection to each service with Redis hung, then stopped (killed); liveness must
not wait on Redis.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bench.articles import ArticleFactory
from bench.cli import env_overrides, positive_int, run_main
from bench.report import Figure, say
from bench.stacks import StackFailed, bench_api_key
from devstack.redis_server import RedisServer, free_port
from devstack.services import Processes, wait_http

HEALTHZ_P99_MS = 10  # liveness answers at once, whatever Redis does
TIME_TO_503_S = 1.0  # a route that needs Redis gives up on a hung one within this
FEEDS_BASE = "http://127.0.0.1:8080/"  # the feeds' public URL: hub topics are under it


@dataclass(frozen=True)
class Call:
    """One request of a route that needs Redis."""

    name: str
    port: int
    method: str
    path: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.health_under_outage", description=__doc__.splitlines()[0]
    )
    p.add_argument(
        "--requests", type=positive_int, default=500, help="/healthz GETs per service (500)"
    )
    p.add_argument(
        "--hung-requests",
        dest="hung_requests",
        type=positive_int,
        default=20,
        help="requests of each Redis-backed route while Redis hangs (20)",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NEWSWIRE_NAME=VALUE",
        help="a setting for both services (repeatable), e.g. NEWSWIRE_REDIS_REQUEST_TIMEOUT_S=1",
    )
    return p


@contextmanager
def services(root: Path, overrides: dict[str, str]) -> Iterator[tuple[RedisServer, int, int, str]]:
    """Valkey, ingest and the feeds service, each ready. Yields the server, ingest's and the
    feeds service's ports, and an API key.

    Raises:
        StackFailed: something did not start; the message says what to do.
    """
    token, keys = bench_api_key()
    server = RedisServer(root / "redis").start()
    ingest_port, feeds_port = free_port(), free_port()
    env = {
        "NEWSWIRE_REDIS_URL": server.url,
        "NEWSWIRE_API_KEYS": json.dumps(keys),
        "NEWSWIRE_INGEST_PORT": str(ingest_port),
        "NEWSWIRE_FEEDS_PORT": str(feeds_port),
        "NEWSWIRE_FEEDS_BASE_URL": FEEDS_BASE,
        "NEWSWIRE_STORE_BACKEND": "redis",
        "NEWSWIRE_FETCH_ALLOW_NETWORKS": '["127.0.0.2/32"]',  # the hub callback's host
        **overrides,
    }
    processes = Processes(env, root / "logs")
    try:
        for name, port in (("ingest", ingest_port), ("feeds", feeds_port)):
            process = processes.start(name)
            try:
                wait_http(f"http://127.0.0.1:{port}/readyz", timeout=60, process=process)
            except RuntimeError as exc:
                tail = processes.log(name)[-2000:]
                raise StackFailed(
                    f"{name} did not become ready: {exc}\nWhat to do: run `make venv` and "
                    f"rerun from the repository root; its log ends:\n{tail}"
                ) from exc
        yield server, ingest_port, feeds_port, token
    finally:
        if server.process is not None and server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGCONT)  # a stopped server ignores SIGTERM
        processes.stop_all()
        server.stop()


def send(call: Call) -> tuple[int, str | None, float]:
    """One request on a new connection: status, Retry-After, seconds to the answer."""
    conn = http.client.HTTPConnection("127.0.0.1", call.port, timeout=30)
    try:
        started = time.perf_counter()
        conn.request(call.method, call.path, call.body or None, dict(call.headers))
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("retry-after"), time.perf_counter() - started
    finally:
        conn.close()


def healthz_latencies(port: int, count: int) -> list[float]:
    """Seconds each of `count` GETs of /healthz took, one after another on one connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"/healthz answered {response.status} on port {port}")
            latencies.append(time.perf_counter() - started)
    finally:
        conn.close()
    return latencies


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def healthz_figure(service: str, redis: str, latencies: list[float]) -> Figure:
    ms = [s * 1000 for s in latencies]
    return Figure(
        f"{service} /healthz p99, Redis {redis}",
        p99(ms),
        unit=" ms",
        spec=".2f",
        note=f"(p50 {statistics.median(ms):.2f} ms, n={len(ms)})",
        below=HEALTHZ_P99_MS,
    )


def time_to_503(call: Call, count: int) -> Figure:
    """The slowest of `count` answers, each of which must be a 503 with Retry-After."""
    answers = [send(call) for _ in range(count)]
    wrong = [(status, retry) for status, retry, _ in answers if status != 503 or not retry]
    seconds = [elapsed for *_, elapsed in answers]
    name = f"{call.name}: slowest 503, Redis hung"
    if wrong:
        missing = f"{len(wrong)} of {count} not 503 with Retry-After: {wrong[:3]}"
        return Figure(name, None, unit=" s", missing=missing, at_most=TIME_TO_503_S)
    return Figure(
        name,
        max(seconds),
        unit=" s",
        spec=".3f",
        note=f"(p50 {statistics.median(seconds):.3f} s, n={count})",
        at_most=TIME_TO_503_S,
    )


def redis_routes(ingest: int, feeds: int, token: str) -> list[Call]:
    article = ArticleFactory().make(1)
    form = {
        "hub.mode": "unsubscribe",
        "hub.topic": FEEDS_BASE + "feeds/all.rss",
        "hub.callback": "http://127.0.0.2:8765/websub",
    }
    return [
        Call(
            "ingest PUT /v1/articles/{id}",
            ingest,
            "PUT",
            f"/v1/articles/{article['id']}",
            json.dumps(article).encode(),
            (("Authorization", f"Bearer {token}"), ("Content-Type", "application/json")),
        ),
        Call(
            "feeds POST /websub",
            feeds,
            "POST",
            "/websub",
            urlencode(form).encode(),
            (("Content-Type", "application/x-www-form-urlencoded"),),
        ),
        Call("feeds GET of a path not held", feeds, "GET", "/feeds/sections/yok.rss"),
    ]


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise StackFailed(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


def readyz(port: int) -> int:
    return send(Call("readyz", port, "GET", "/readyz"))[0]


def run(args: argparse.Namespace) -> list[Figure]:
    figures: list[Figure] = []
    with (
        tempfile.TemporaryDirectory(prefix="newswire-health-") as tmp,
        services(Path(tmp), env_overrides(args.env)) as (server, ingest, feeds, token),
    ):
        assert server.process is not None
        calls = redis_routes(ingest, feeds, token)
        say(f"== with Redis up: {[send(call)[0] for call in calls]} (201, 202, 404 expected)")

        say(f"== Redis hung: {args.hung_requests} requests of each route, then /healthz")
        os.kill(server.process.pid, signal.SIGSTOP)
        figures += [time_to_503(call, args.hung_requests) for call in calls]
        for name, port in (("ingest", ingest), ("feeds", feeds)):
            figures.append(healthz_figure(name, "hung", healthz_latencies(port, args.requests)))
        os.kill(server.process.pid, signal.SIGCONT)
        for port in (ingest, feeds):
            wait_for(lambda p=port: readyz(p) == 200, "/readyz back to 200 after SIGCONT")

        say(f"== Redis stopped: {args.requests} GETs of /healthz per service")
        server.kill()
        for port in (ingest, feeds):
            wait_for(lambda p=port: readyz(p) == 503, "/readyz turning 503 once Redis died")
        for name, port in (("ingest", ingest), ("feeds", feeds)):
            figures.append(healthz_figure(name, "stopped", healthz_latencies(port, args.requests)))
    for figure in figures:
        say(f"  {figure.name}: {figure.text}")
    return figures


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
