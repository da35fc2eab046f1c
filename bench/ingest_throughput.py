"""Single-PUT ingest throughput: `PUT /v1/articles/{id}` from wrk over keep-alive connections.

    .venv/bin/python -m bench.ingest_throughput [--duration 10] [--connections 16]

wrk (a C load generator, `make bench-tools`) sends the PUTs: a Lua script makes each
request's article from one corpus article, with its own id, section, three tags and author,
so every PUT creates an article and touches a dozen targets as a real one does. wrk's CPU
time is reported beside the figure: it shares the two cores with the stack.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import orjson

from bench.articles import ArticleFactory
from bench.cli import (
    add_ingest_only_argument,
    add_stack_arguments,
    env_overrides,
    positive_int,
    run_main,
)
from bench.cpu import CpuMeter
from bench.lua_stats import LuaSampler
from bench.profiling import Profiler, stack_pids
from bench.report import Figure, Progress, say
from bench.stacks import (
    builds,
    describe,
    redis_client,
    running_stack,
    script_stats,
    stop_builders,
    wait_settled,
)
from devstack.services import ROOT

TARGET_PER_S = 1_500
SCRIPT = ROOT / "bench" / "wrk" / "put_articles.lua"


def article_template() -> bytes:
    """A corpus article as JSON, with the placeholders the wrk script fills in."""
    article = ArticleFactory(run="wrk").make(1)
    article |= {
        "id": "@ID@",
        "url": "https://haber.example.com.tr/haber/@ID@",
        "title": article["title"].rpartition(" (")[0] + " (@N@)",
        "section": "@SECTION@",
        "tags": ["@TAGS@"],
        "authors": [{"name": "@AUTHOR@"}],
        "comments_url": "https://haber.example.com.tr/haber/@ID@#yorumlar",
        "related": [],
    }
    return orjson.dumps(article).replace(b'["@TAGS@"]', b"[@TAGS@]")


def wrk_put(
    url: str, token: str, connections: int, seconds: float, template: Path, run: str
) -> tuple[float, int, str, float]:
    """Run wrk; returns (responses/s, non-2xx responses, its output, its CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "-s",
        str(SCRIPT),
    ]
    out = subprocess.run(
        [*command, url, "--", str(template), token, run],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return rate, int(bad.group(1)) if bad else 0, out, cpu


def run(args: argparse.Namespace) -> list[Figure]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run `make bench-tools` (apt-get install wrk)")
    say(
        f"== single-PUT ingest throughput: wrk -t2 -c{args.connections} for {args.duration}s, "
        "a new article per PUT"
    )
    with (
        tempfile.TemporaryDirectory(prefix="newswire-put-") as tmp,
        running_stack(env_overrides(args.env)) as stack,
    ):
        template = Path(tmp) / "article.json"
        template.write_bytes(article_template())
        for line in describe(stack):
            say(line)
        token = stack.http.headers["Authorization"].removeprefix("Bearer ")
        say("warm-up: 2 s of PUTs (not counted)")
        wrk_put(stack.ingest_url, token, args.connections, 2, template, "warm")
        if args.ingest_only:
            stop_builders(stack)
            say("ingest only: dispatcher and workers stopped; events wait in the stream")
        else:
            # Start from a quiet stack: the warm-up's own builds are not part of the figure.
            wait_settled(stack, 60, Progress("warm-up builds"))
        builds_before = builds(stack)
        scripts_before = script_stats(stack)
        say(f"measuring: {len(template.read_bytes()) / 1024:.1f} KB per PUT")
        profiler = Profiler(args.profile, stack_pids(stack, ("ingest",))).start()
        meter = CpuMeter(stack).start()
        # One second of every script's cost inside Redis, from the middle of the run.
        sampler = LuaSampler(redis_client(stack), args.duration / 2 - 0.5, 1.0).start()
        began = time.monotonic()
        rate, errors, out, wrk_cpu = wrk_put(
            stack.ingest_url, token, args.connections, args.duration, template, "timed"
        )
        elapsed = time.monotonic() - began
        meter.stop()
        lua = sampler.join()
        profiler.stop()
        built = builds(stack) - builds_before
        calls, usec = (b - a for a, b in zip(scripts_before, script_stats(stack), strict=True))

    generator = wrk_cpu / elapsed
    latency = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
    say(
        f"result:  {rate:,.0f} PUTs/s for {elapsed:.1f}s; {errors} non-2xx; "
        f"p99 {latency.group(1) if latency else '?'}"
    )
    say(meter.line())
    say(f"builds:  {built} finished during the run (nw:builds)")
    if calls:
        say(
            f"redis:   {calls:,} Lua script calls (upserts, rate-limit leases and build "
            f"coordination), {usec / calls:.0f} µs each inside Redis"
        )
    say(lua.line())
    upsert = lua.per_call("upsert")
    answered = rate * elapsed
    ingest_us = meter.used["ingest"] / answered * 1e6 if answered and meter.used else None
    return [
        Figure(
            f"single PUT, builds {'stopped' if args.ingest_only else 'running'}",
            rate,
            unit=" articles/s",
            note=f"(load generator wrk: {generator:.0%} of a core)",
            at_least=TARGET_PER_S,
        ),
        Figure(
            "ingest CPU per PUT (all its processes)", ingest_us, unit=" µs", missing="(no /proc)"
        ),
        Figure("upsert Lua inside Redis", upsert, unit=" µs/call", missing="(not sampled)"),
        Figure("single PUT errors", errors, at_most=0, target="0"),
    ]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.ingest_throughput", description=__doc__.splitlines()[0]
    )
    p.add_argument("--duration", type=positive_int, default=10, help="seconds of PUTs (10)")
    p.add_argument(
        "--connections", type=positive_int, default=16, help="keep-alive connections (16)"
    )
    add_ingest_only_argument(p)
    add_stack_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
