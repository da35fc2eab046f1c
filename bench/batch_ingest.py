"""Batch ingest throughput: `POST /v1/articles:batch` with 1,000 articles per request.

    .venv/bin/python -m bench.batch_ingest [--batches 10] [--batch-size 1000] [--in-flight 4]

Several batches are in flight at once (`--in-flight`), as a real importer sends them, and
the figure is articles per second over the whole run. The first half of the batches creates
new articles and the second half sends newer revisions of the same ones, as a newsroom
re-syncing after edits would; every response must hold one result per article, each
`created` or `updated`. Afterwards the benchmark waits for the dispatcher and the worker to
work off the burst and reports how many builds it cost.
"""

from __future__ import annotations

import argparse
import http.client
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import orjson

from bench.articles import ArticleFactory
from bench.cli import (
    add_ingest_only_argument,
    add_stack_arguments,
    env_overrides,
    positive,
    positive_int,
    run_main,
)
from bench.cpu import CpuMeter
from bench.lua_stats import LuaSampler
from bench.profiling import Profiler, stack_pids
from bench.publish_latency import TARGET_REDIS_US
from bench.report import Figure, Progress, say
from bench.stacks import (
    builds,
    describe,
    redis_client,
    redis_thread_seconds,
    running_stack,
    script_stats,
    stop_builders,
    wait_settled,
)

TARGET_PER_S = 4_000


def make_batches(factory: ArticleFactory, batches: int, size: int) -> list[bytes]:
    """Request bodies: new articles first, then newer revisions of them."""
    fresh = (batches + 1) // 2
    bodies = []
    for b in range(batches):
        revision, first = (0, b * size) if b < fresh else (1, (b - fresh) * size)
        articles = [factory.make(n, revision=revision) for n in range(first, first + size)]
        bodies.append(orjson.dumps({"articles": articles}))
    return bodies


def run(args: argparse.Namespace) -> list[Figure]:
    say(f"== batch ingest throughput: {args.batches} batches of {args.batch_size:,} articles")
    factory = ArticleFactory()
    warm_factory = ArticleFactory(run=factory.run + "w")
    bodies = make_batches(factory, args.batches, args.batch_size)
    warm = make_batches(warm_factory, 1, min(args.batch_size, 200))[0]
    with running_stack(env_overrides(args.env)) as stack:
        for line in describe(stack):
            say(line)
        url = urlsplit(stack.ingest_url)
        headers = {
            "Authorization": stack.http.headers["Authorization"],
            "Content-Type": "application/json",
        }
        local = threading.local()  # one keep-alive connection per sending thread

        def post(body: bytes) -> tuple[int, dict]:
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=300)
            try:
                conn.request("POST", "/v1/articles:batch", body, headers)
                response = conn.getresponse()
                return response.status, orjson.loads(response.read())
            except (OSError, http.client.HTTPException, orjson.JSONDecodeError):
                conn.close()  # the next request opens a fresh connection
                local.conn = None
                raise

        status, _ = post(warm)
        local.conn.close()  # idle past the server's keep-alive timeout while settling
        local.conn = None
        say(f"warm-up: one batch of {min(args.batch_size, 200)} (HTTP {status}, not counted)")
        if args.ingest_only:
            stop_builders(stack)
            say("ingest only: dispatcher and workers stopped; events wait in the stream")
        else:
            # Start from a quiet stack: the warm-up's own builds are not part of the figure.
            wait_settled(stack, 60, Progress("warm-up builds"))
        builds_before = builds(stack)
        scripts_before = script_stats(stack)
        size = sum(map(len, bodies)) / len(bodies)
        say(
            f"measuring: {len(bodies)} batches of {size / 1e6:.1f} MB each, "
            f"{args.in_flight} in flight at once"
        )
        progress = Progress("batch", every=0)
        profiler = Profiler(args.profile, stack_pids(stack, ("ingest",))).start()
        meter = CpuMeter(stack).start()
        redis_before = redis_thread_seconds(redis_client(stack))
        # One second of every script's cost inside Redis, from early in the first batch.
        sampler = LuaSampler(redis_client(stack), 0.2, 1.0).start()
        statuses: Counter[str] = Counter()
        problems: list[str] = []
        whole = 0  # batches answered with one created/updated result per article
        times: list[float] = []
        # A batch of newer revisions goes only once the batch that created them is answered,
        # as an importer re-syncing would; else its articles could be `created` by it and
        # the older revisions then be `stale`.
        answered = [threading.Event() for _ in bodies]
        fresh = (args.batches + 1) // 2
        lock = threading.Lock()

        def send(index: int) -> None:
            nonlocal statuses, whole
            if index >= fresh:
                answered[index - fresh].wait()
            sent = time.monotonic()
            try:
                status, reply = post(bodies[index])
            except (OSError, http.client.HTTPException, orjson.JSONDecodeError) as exc:
                status, reply = 0, {"error": f"{type(exc).__name__}: {exc}"}
            took = time.monotonic() - sent
            answered[index].set()
            results = reply.get("results", []) if status == 200 else []
            batch_statuses = Counter(r["status"] for r in results)
            with lock:
                times.append(took)
                statuses += batch_statuses
                if status != 200 or len(results) != args.batch_size:
                    problems.append(
                        f"batch {index}: HTTP {status}, {len(results)} results"
                        + (f" ({reply['error']})" if "error" in reply else "")
                    )
                elif set(batch_statuses) - {"created", "updated"}:
                    problems.append(f"batch {index}: {dict(batch_statuses)}")
                else:
                    whole += 1
                progress.update(
                    f"batch {index + 1}/{len(bodies)}: {took * 1000:,.0f} ms, "
                    f"{sum(batch_statuses.values()) / took:,.0f} articles/s, "
                    f"{dict(batch_statuses)}"
                )

        began = time.monotonic()
        with ThreadPoolExecutor(args.in_flight, thread_name_prefix="batch") as pool:
            list(pool.map(send, range(len(bodies))))
        elapsed = time.monotonic() - began
        meter.stop()
        calls, usec = (b - a for a, b in zip(scripts_before, script_stats(stack), strict=True))
        lua = sampler.join()
        profiler.stop()
        good = statuses["created"] + statuses["updated"]
        rate = good / elapsed
        say(
            f"result:  {good:,} articles in {elapsed:.2f}s = {rate:,.0f} articles/s, "
            f"{args.in_flight} batches in flight "
            f"(each took {min(times) * 1000:,.0f}-{max(times) * 1000:,.0f} ms); "
            f"results {dict(statuses)}"
        )
        for problem in problems:
            say(f"problem: {problem}")
        say(meter.line())
        if calls:
            say(
                f"redis:   {calls:,} Lua script calls (upserts and build coordination), "
                f"{usec / calls:.0f} µs each inside Redis, {usec / 1e6:.2f}s in all"
            )
        say(lua.line())
        generator = meter.share("bench client")
        ingest_us = meter.used["ingest"] / good * 1e6 if good and meter.used else None
        settled: float | None = None
        if not args.ingest_only:
            say(f"settling: waiting ≤ {args.settle:.0f}s for the dispatcher and worker to catch up")
            settled = wait_settled(stack, args.settle, Progress("settle"))
            say(
                f"builds:  {builds(stack) - builds_before} builds for {good:,} events"
                + (
                    f"; all done {settled:.1f}s after the last batch"
                    if settled is not None
                    else f"; still busy after {args.settle:.0f}s"
                )
            )
        # Everything the import cost Redis's thread: the writes, their dispatch, and the
        # builds they owed, up to the end of the settling (a lower bound if still busy).
        redis_us = (redis_thread_seconds(redis_client(stack)) - redis_before) / max(good, 1) * 1e6
    upsert = lua.per_call("upsert")
    if args.ingest_only:
        redis_scope = "write only, builds stopped"
    elif settled is None:
        redis_scope = f"write, dispatch and builds, {args.settle:.0f}s of them (still busy)"
    else:
        redis_scope = "write, dispatch and every build owed"
    return [
        Figure(
            f"batch ingest ({args.batch_size:,}/request), builds "
            + ("stopped" if args.ingest_only else "running"),
            rate,
            unit=" articles/s",
            note=f"(load generator: {generator:.0%} of a core)",
            at_least=TARGET_PER_S,
        ),
        Figure(
            "ingest CPU per article (all its processes)",
            ingest_us,
            unit=" µs",
            missing="(no /proc)",
        ),
        Figure("upsert Lua inside Redis", upsert, unit=" µs/call", missing="(not sampled)"),
        Figure(
            "Redis main-thread CPU per article imported",
            redis_us,
            unit=" µs",
            note=f"({redis_scope})",
            at_most=TARGET_REDIS_US,
        ),
        Figure(
            "batches answered in full, every article created/updated",
            whole,
            note=f"of {args.batches:,} ({good:,} articles)",
            at_least=args.batches,
            target="all",
        ),
    ]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.batch_ingest", description=__doc__.splitlines()[0]
    )
    p.add_argument("--batches", type=positive_int, default=10, help="timed batches (default 10)")
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=1_000,
        help="articles per batch (default 1000, the limit)",
    )
    p.add_argument(
        "--in-flight",
        type=positive_int,
        default=4,
        help="batches sent at once, each on its own connection, as an importer would (default 4)",
    )
    p.add_argument(
        "--settle",
        type=positive,
        default=60.0,
        help="seconds to wait for the burst's builds afterwards (default 60)",
    )
    add_ingest_only_argument(p)
    add_stack_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
