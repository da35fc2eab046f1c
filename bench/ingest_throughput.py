"""Single-PUT ingest throughput: many `PUT /v1/articles/{id}` over keep-alive connections.

    .venv/bin/python -m bench.ingest_throughput [--requests 5000] [--connections 6]

Each client thread owns one persistent HTTP/1.1 connection and sends its share of the
requests back to back. Bodies are serialized before the clock starts, so the load generator
(which shares the machine with the stack) spends its CPU on little more than the sockets.
"""

from __future__ import annotations

import argparse
import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from bench.common import (
    ArticleFactory,
    CpuMeter,
    Figure,
    Profiler,
    Progress,
    add_ingest_only_argument,
    add_stack_arguments,
    builds,
    describe,
    env_overrides,
    positive_int,
    run_main,
    running_stack,
    say,
    script_stats,
    stop_builders,
    wait_settled,
)

TARGET_PER_S = 1_000


@dataclass
class ClientStats:
    done: int = 0
    errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    first_error: str = ""


def put_all(
    base_url: str,
    token: str,
    requests: list[tuple[str, bytes]],
    connections: int,
    progress: Progress | None = None,
) -> tuple[float, list[ClientStats]]:
    """Send every (path, body) as a PUT over `connections` keep-alive connections.

    Returns:
        Seconds from the first request to the last response, and each client's counts.
    """
    url = urlsplit(base_url)
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
    }
    stats = [ClientStats() for _ in range(connections)]
    start = threading.Barrier(connections + 1)

    def client(index: int) -> None:
        mine = stats[index]
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        start.wait()
        for path, body in requests[index::connections]:
            try:
                conn.request("PUT", path, body, headers)
                response = conn.getresponse()
                response.read()
                mine.statuses[response.status] += 1
                if response.status not in (200, 201):
                    mine.errors += 1
                    mine.first_error = mine.first_error or f"HTTP {response.status}"
            except (OSError, http.client.HTTPException) as exc:
                mine.errors += 1
                mine.first_error = mine.first_error or f"{type(exc).__name__}: {exc}"
                conn.close()  # the next request opens a fresh connection
            mine.done += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(connections)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    while alive := [thread for thread in threads if thread.is_alive()]:
        alive[0].join(timeout=0.25)
        if progress is not None:
            done = sum(s.done for s in stats)
            rate = done / max(time.monotonic() - began, 1e-9)
            progress.update(f"{done:,}/{len(requests):,} PUTs, {rate:,.0f}/s")
    for thread in threads:
        thread.join()
    return time.monotonic() - began, stats


def run(args: argparse.Namespace) -> list[Figure]:
    say(f"== single-PUT ingest throughput: {args.requests:,} PUTs, {args.connections} connections")
    factory = ArticleFactory()
    warm = [factory.make(n) for n in range(args.warmup)]
    articles = [factory.make(n) for n in range(args.warmup, args.warmup + args.requests)]

    def encode(batch: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
        return [(f"/v1/articles/{a['id']}", orjson.dumps(a)) for a in batch]

    requests_warm, requests_timed = encode(warm), encode(articles)
    size = sum(len(body) for _, body in requests_timed) / len(requests_timed)
    with running_stack(env_overrides(args.env)) as stack:
        for line in describe(stack):
            say(line)
        token = stack.http.headers["Authorization"].removeprefix("Bearer ")
        say(f"warm-up: {len(requests_warm)} PUTs (not counted)")
        put_all(stack.ingest_url, token, requests_warm, args.connections)
        if args.ingest_only:
            stop_builders(stack)
            say("ingest only: dispatcher and worker stopped; events wait in the stream")
        else:
            # Start from a quiet stack: the warm-up's own builds are not part of the figure.
            wait_settled(stack, 60, Progress("warm-up builds"))
        builds_before = builds(stack)
        scripts_before = script_stats(stack)
        say(f"measuring: {len(requests_timed):,} PUTs of {size / 1024:.1f} KB each")
        profiler = Profiler(stack, args.profile, ("ingest",)).start()
        meter = CpuMeter(stack).start()
        elapsed, stats = put_all(
            stack.ingest_url, token, requests_timed, args.connections, Progress("put")
        )
        meter.stop()
        profiler.stop()
        built = builds(stack) - builds_before
        calls, usec = (b - a for a, b in zip(scripts_before, script_stats(stack), strict=True))

    done = sum(s.done for s in stats)
    errors = sum(s.errors for s in stats)
    statuses = sum((s.statuses for s in stats), Counter())
    rate = (done - errors) / elapsed
    say(
        f"result:  {done - errors:,} articles in {elapsed:.2f}s = {rate:,.0f} articles/s; "
        f"{errors} errors; HTTP statuses {dict(sorted(statuses.items()))}"
    )
    first_errors = {s.first_error for s in stats if s.first_error}
    if first_errors:
        say(f"errors:  {'; '.join(sorted(first_errors))}")
    say(meter.line())
    say(f"builds:  {built} finished during the run (nw:builds)")
    if calls:
        say(
            f"redis:   {calls:,} Lua script calls (upserts and build coordination), "
            f"{usec / calls:.0f} µs each inside Redis"
        )
    return [
        Figure(
            f"single PUT ({args.connections} conns)",
            f"{rate:,.0f} articles/s",
            f"≥ {TARGET_PER_S:,}/s",
            rate >= TARGET_PER_S,
        ),
        Figure("single PUT errors", f"{errors} of {done:,}", "0", errors == 0),
    ]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.ingest_throughput", description=__doc__.splitlines()[0]
    )
    p.add_argument("--requests", type=positive_int, default=5_000, help="timed PUTs (default 5000)")
    p.add_argument(
        "--connections", type=positive_int, default=6, help="keep-alive connections (default 6)"
    )
    p.add_argument(
        "--warmup", type=positive_int, default=300, help="untimed PUTs first (default 300)"
    )
    add_ingest_only_argument(p)
    add_stack_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
