"""One WebSub delivery's cost, in this process, on a quiet core: what the push worker spends
per subscriber per change, before Celery's handling of the task.

    .venv/bin/python -m bench.websub_delivery [--deliveries 500] [--size-kb 30]

A scratch Redis of its own, a scratch artifact folder holding one feed, and a subscriber in
a process of its own (so its CPU is not counted) that answers each POST with 204. Each
round calls `deliver` as the push worker's task does: the subscription's read, the feed's
load from the store, the signature, and the POST through the guarded fetcher.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.cli import positive_int, run_main
from bench.report import Figure, say
from devstack.redis_server import RedisServer, free_port

WARMUP = 20
_SUBSCRIBER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def run(args: argparse.Namespace) -> list[Figure]:
    from services.render.websub.delivery import WebSub, deliver
    from shared.net.fetcher import Fetcher, FetchPolicy
    from shared.settings import Settings
    from shared.store import make_store
    from shared.store.artifacts import encode
    from shared.websub import Subscriptions, topic_url

    say(f"== WebSub delivery: {args.deliveries} POSTs of a {args.size_kb} KB feed")
    port = free_port()
    subscriber = subprocess.Popen([sys.executable, "-c", _SUBSCRIBER, str(port)])
    with tempfile.TemporaryDirectory(prefix="newswire-websub-delivery-") as tmp:
        server = RedisServer(Path(tmp) / "redis").start()
        try:
            settings = Settings(
                redis_url=server.url,
                artifact_dir=Path(tmp) / "store",
                fetch_allow_networks=["127.0.0.1/32"],
            )
            import redis

            client = redis.Redis.from_url(server.url)
            store = make_store(settings)
            path = "feeds/sections/dunya.rss"
            body = b"<rss>" + os.urandom(args.size_kb * 512).hex().encode() + b"</rss>"
            store.publish("feed:section:dunya", [encode(path, body, 0)], "1-1")
            topic, callback = topic_url(settings, path), f"http://127.0.0.1:{port}/push"
            subscriptions = Subscriptions(client, settings)
            subscriptions.add(topic, callback, 3600, "bench-secret")
            fetcher = Fetcher(FetchPolicy.from_settings(settings))
            ctx = WebSub(settings, subscriptions, store, fetcher, lambda *_a, **_k: None)
            etag = store.get(path).etag
            _wait_listening(lambda: deliver(topic, callback, etag, ctx))
            walls: list[float] = []
            cpus: list[float] = []
            for n in range(WARMUP + args.deliveries):
                wall, cpu = time.perf_counter(), time.process_time()
                outcome = deliver(topic, callback, etag, ctx)
                if n >= WARMUP:
                    walls.append((time.perf_counter() - wall) * 1000)
                    cpus.append((time.process_time() - cpu) * 1000)
                if outcome != "delivered":
                    raise RuntimeError(f"delivery {n} was {outcome}, not delivered")
        finally:
            server.stop()
            subscriber.kill()
            subscriber.wait()
    return [
        Figure("WebSub delivery, quiet core: p50 (wall)", statistics.median(walls), unit=" ms",
               spec=".2f"),
        Figure("WebSub delivery, quiet core: p50 (CPU)", statistics.median(cpus), unit=" ms",
               spec=".2f", note=f"(mean {statistics.fmean(cpus):.2f} ms)"),
    ]  # fmt: skip


def _wait_listening(first: Callable[[], object]) -> None:
    """Until the subscriber's process answers (it starts alongside the Redis server)."""
    from services.render.websub.delivery import CallFailed
    from shared.net.fetcher import FetchError

    deadline = time.monotonic() + 10
    while True:
        try:
            first()
            return
        except (CallFailed, FetchError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.websub_delivery", description=__doc__.splitlines()[0]
    )
    p.add_argument("--deliveries", type=positive_int, default=500, help="deliveries timed (500)")
    p.add_argument("--size-kb", type=positive_int, default=30, help="the feed's size (30)")
    return p


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
