"""One WebSub delivery's cost on a quiet core: what the hub spends per subscriber per change.

    .venv/bin/python -m bench.websub_delivery [--deliveries 500] [--size-kb 30] [--worker]
                                              [--worker-option=--pool=solo ...]

A scratch Redis of its own, a scratch artifact folder holding one feed, and a subscriber in
a process of its own (so its CPU is not counted) that answers each POST with 204. By
default each round calls `deliver` in this process, as the push worker's task does: the
subscription's read, the feed's load from the store, the signature, and the POST through
the guarded fetcher. With `--worker`, the deliveries go as tasks to a push worker started
as `make run` starts it, and the figure is that process's CPU per delivery: the same work
plus Celery's handling of each task.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cli import positive_int, run_main
from bench.report import Figure, say
from devstack.redis_server import RedisServer, free_port

WARMUP = 20
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_SUBSCRIBER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Handler.received += 1
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):  # how many POSTs arrived
        body = str(Handler.received).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


@dataclass(frozen=True)
class Hub:
    """One feed, one subscriber to it, and what a delivery to it needs."""

    env: dict[str, str]  # the settings, as the environment a service would be given
    subscriber: str  # its URL, which a GET answers with how many POSTs arrived
    ctx: Any  # services.render.websub.delivery.WebSub
    topic: str
    callback: str
    etag: str


@contextmanager
def hub(size_kb: int) -> Iterator[Hub]:
    from services.render.websub.delivery import WebSub
    from shared.net.fetcher import Fetcher, FetchPolicy
    from shared.settings import Settings
    from shared.store import make_store
    from shared.store.artifacts import encode
    from shared.websub import Subscriptions, topic_url

    port = free_port()
    subscriber = subprocess.Popen([sys.executable, "-c", _SUBSCRIBER, str(port)])
    with tempfile.TemporaryDirectory(prefix="newswire-websub-delivery-") as tmp:
        server = RedisServer(Path(tmp) / "redis").start()
        try:
            env = {
                "NEWSWIRE_REDIS_URL": server.url,
                "NEWSWIRE_ARTIFACT_DIR": f"{tmp}/store",
                "NEWSWIRE_FETCH_ALLOW_NETWORKS": '["127.0.0.1/32"]',
            }
            settings = Settings(
                redis_url=server.url,
                artifact_dir=Path(tmp) / "store",
                fetch_allow_networks=["127.0.0.1/32"],
            )
            import redis

            client = redis.Redis.from_url(server.url)
            store = make_store(settings)
            path = "feeds/sections/dunya.rss"
            body = b"<rss>" + os.urandom(size_kb * 512).hex().encode() + b"</rss>"
            store.publish("feed:section:dunya", [encode(path, body, 0)], "1-1")
            topic, callback = topic_url(settings, path), f"http://127.0.0.1:{port}/push"
            subscriptions = Subscriptions(client, settings)
            subscriptions.add(topic, callback, 3600, "bench-secret")
            fetcher = Fetcher(FetchPolicy.from_settings(settings))
            ctx = WebSub(settings, subscriptions, store, fetcher, lambda *_a, **_k: None)
            subscriber_url = f"http://127.0.0.1:{port}/"
            yield Hub(env, subscriber_url, ctx, topic, callback, store.get(path).etag)
        finally:
            server.stop()
            subscriber.kill()
            subscriber.wait()


def run(args: argparse.Namespace) -> list[Figure]:
    where = "through a push worker" if args.worker else "in this process"
    say(f"== WebSub delivery: {args.deliveries} POSTs of a {args.size_kb} KB feed, {where}")
    with hub(args.size_kb) as h:
        if args.worker:
            return _through_worker(h, args.deliveries, args.worker_option)
        return _in_process(h, args)


def _in_process(h: Hub, args: argparse.Namespace) -> list[Figure]:
    from services.render.websub.delivery import deliver

    _wait_listening(lambda: deliver(h.topic, h.callback, h.etag, h.ctx))
    walls: list[float] = []
    cpus: list[float] = []
    for n in range(WARMUP + args.deliveries):
        wall, cpu = time.perf_counter(), time.process_time()
        outcome = deliver(h.topic, h.callback, h.etag, h.ctx)
        if n >= WARMUP:
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
        if outcome != "delivered":
            raise RuntimeError(f"delivery {n} was {outcome}, not delivered")
    return [
        Figure("WebSub delivery, quiet core: p50 (wall)", statistics.median(walls), unit=" ms",
               spec=".2f"),
        Figure("WebSub delivery, quiet core: p50 (CPU)", statistics.median(cpus), unit=" ms",
               spec=".2f", note=f"(mean {statistics.fmean(cpus):.2f} ms)"),
    ]  # fmt: skip


def _through_worker(h: Hub, deliveries: int, options: list[str]) -> list[Figure]:
    """The push worker's CPU (all its threads, from /proc) over `deliveries` tasks, from the
    first sent until the last is acknowledged; `options` go on its command line."""
    import redis
    import requests

    from devstack.services import commands
    from shared.task_sender import TaskSender
    from shared.websub import DELIVER_TASK, QUEUE

    send = TaskSender(h.ctx.settings.celery_broker_url)
    broker = redis.Redis.from_url(h.ctx.settings.celery_broker_url)
    with tempfile.TemporaryFile() as log:
        _wait_listening(lambda: requests.get(h.subscriber, timeout=1))
        worker = subprocess.Popen(
            commands()["push-worker"] + options,
            env={**os.environ, **h.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def tail() -> str:
            log.seek(0)
            return log.read().decode(errors="replace")[-2000:]

        try:

            def sent_and_done(count: int) -> None:
                for _ in range(count):
                    send(DELIVER_TASK, [h.topic, h.callback, h.etag], queue=QUEUE)
                # Taken, run and acknowledged: nothing waits, and kombu holds none unacked.
                deadline = time.monotonic() + 120
                while broker.llen(QUEUE) or broker.zcard("unacked_index"):
                    if worker.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the push worker did not deliver; its log:\n{tail()}")
                    time.sleep(0.02)

            sent_and_done(WARMUP)  # also waits for the worker to start
            cpu, wall = _cpu_seconds(worker.pid), time.perf_counter()
            sent_and_done(deliveries)
            cpu, wall = _cpu_seconds(worker.pid) - cpu, time.perf_counter() - wall
        finally:
            worker.terminate()
            worker.wait()
            send.close()
        delivered = int(requests.get(h.subscriber, timeout=5).text)
        if delivered != WARMUP + deliveries:
            raise RuntimeError(
                f"{delivered} of {WARMUP + deliveries} tasks delivered; the push worker's "
                f"log:\n{tail()}"
            )
    return [
        Figure("push worker CPU per delivery, quiet core", cpu * 1000 / deliveries, unit=" ms",
               spec=".2f", note=f"({deliveries / wall:,.0f} deliveries a second)"),
    ]  # fmt: skip


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _wait_listening(first: Callable[[], object]) -> None:
    """Until the subscriber's process answers (it starts alongside the Redis server)."""
    from services.render.websub.delivery import CallFailed
    from shared.net.fetcher import FetchError

    deadline = time.monotonic() + 10
    while True:
        try:
            first()
            return
        except (CallFailed, FetchError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.websub_delivery", description=__doc__.splitlines()[0]
    )
    p.add_argument("--deliveries", type=positive_int, default=500, help="deliveries timed (500)")
    p.add_argument("--size-kb", type=positive_int, default=30, help="the feed's size (30)")
    p.add_argument(
        "--worker",
        action="store_true",
        help="send them as tasks to a push worker, and count that process's CPU",
    )
    p.add_argument(
        "--worker-option",
        action="append",
        default=[],
        metavar="OPTION",
        help="one more option for the push worker's command, e.g. --worker-option=--pool=solo",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
