"""One feed target's whole build, in this process, on a quiet core: the floor under the
build time the latency run measures under load.

    .venv/bin/python -m bench.build_cost [--articles 300] [--rounds 300] [--profile DIR]

A scratch Redis of its own and a scratch artifact folder (filesystem store, as `make run`
and compose use). `--articles` corpus articles go into one section first; then each round
writes one more article to it and builds the section's feed with `build_target`, as a
worker does after the event: the coordinator's begin and finish, the feed's reads, four
formats and the HTML page, their gzip, the file writes and the WebSub claim (no subscriber,
so no delivery is sent). The first 20 rounds warm the caches and are not counted. Each
build is timed on the wall and by the process's CPU; `--profile` samples the rounds with
py-spy and sums where the builds' time went.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis
import redis.asyncio

from bench.articles import ArticleFactory
from bench.cli import positive_int, run_main
from bench.profiling import Profiler
from bench.report import Figure, say
from devstack.redis_server import RedisServer

TARGET = "feed:section:dunya"
WARMUP = 20


def run(args: argparse.Namespace) -> list[Figure]:
    from services.render.pipeline.builds import build_target
    from services.render.pipeline.celery_app import make_context
    from shared.article import Article
    from shared.kinds.registry import Registry
    from shared.settings import Settings
    from shared.state.article_writer import ArticleWriter

    say(f"== build cost: {TARGET} over {args.articles} articles, {args.rounds} builds")
    with tempfile.TemporaryDirectory(prefix="newswire-build-cost-") as tmp:
        server = RedisServer(Path(tmp) / "redis").start()
        try:
            settings = Settings(
                redis_url=server.url, site_publisher="bench", artifact_dir=Path(tmp) / "store"
            )
            entries = Registry.from_settings(settings).entries
            factory = ArticleFactory(run="buildcost")
            context = {"default_language": settings.language}

            def write(numbers: range) -> None:
                batch = [
                    Article.model_validate(factory.make(n, section="dunya"), context=context)
                    for n in numbers
                ]

                async def go() -> None:
                    client = redis.asyncio.Redis.from_url(server.url)
                    await ArticleWriter(client, settings, entries).upsert_many(batch, "bench")
                    await client.aclose()

                asyncio.run(go())

            write(range(args.articles))
            ctx = make_context(settings, enqueue=lambda _target: None)
            walls: list[float] = []
            cpus: list[float] = []
            profiler = Profiler(args.profile, {"build_cost": os.getpid()}).start()
            for n in range(WARMUP + args.rounds):
                write(range(args.articles + n, args.articles + n + 1))
                ctx.coordinator.mark([(TARGET, f"{ctx.reader.now_ms()}-{n + 1}")])
                wall, cpu = time.perf_counter(), time.process_time()
                outcome = build_target(TARGET, ctx)
                if n >= WARMUP:
                    walls.append((time.perf_counter() - wall) * 1000)
                    cpus.append((time.process_time() - cpu) * 1000)
                if outcome != "published":
                    raise RuntimeError(f"build {n} was {outcome}, not published")
            profiler.stop()
        finally:
            server.stop()
    return [
        Figure(f"{TARGET} build, quiet core: p50 (wall)", statistics.median(walls), unit=" ms",
               spec=".2f", note=f"(p90 {_p90(walls):.2f} ms)"),
        Figure(f"{TARGET} build, quiet core: p50 (CPU)", statistics.median(cpus), unit=" ms",
               spec=".2f", note=f"(p90 {_p90(cpus):.2f} ms)"),
    ]  # fmt: skip


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[8] if len(values) > 1 else values[0]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.build_cost", description=__doc__.splitlines()[0]
    )
    p.add_argument(
        "--articles", type=positive_int, default=300, help="articles in the section (300)"
    )
    p.add_argument("--rounds", type=positive_int, default=300, help="builds timed (300)")
    p.add_argument(
        "--profile", type=Path, default=None, metavar="DIR",
        help="sample the builds with py-spy; write the stacks to DIR",
    )  # fmt: skip
    return p


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
