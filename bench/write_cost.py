"""Redis time of the write step and of a feed build's reads, in a scratch server of its own.

    .venv/bin/python -m bench.write_cost [--articles 1000] [--rounds 3] [--reads 200]

Redis runs every command on one thread, so its time per article bounds the whole deployment.
Each round writes `--articles` new articles (as the site publisher, pipelined 1,000 at a
time, each touching about ten targets), then a newer revision of each, through
`ArticleWriter`: the read of the bookkeeping and the upsert script. The figure is the time
inside Redis per article written, summed from SLOWLOG as bench/lua_stats.py does for the
stack benchmarks; beside it, the CPU time of Redis's main thread per article (parsing and
replies included). Then it reads a feed's newest 50 `--reads` times through
`ArticleReader.feed_view` with a warm cache, as a worker building feeds does.

On a busy machine a command's time grows while Redis waits for a core, so the best round is
reported; no other process uses the server.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path

import redis
import redis.asyncio

from bench.articles import ArticleFactory
from bench.cli import positive_int, run_main
from bench.lua_stats import UPSERT_TARGET_US, sample_during
from bench.report import Figure, say
from devstack.redis_server import RedisServer
from services.render.feed.renderer import TOMBSTONE_MS

BATCH = 1000


def main_thread_cpu(db: redis.Redis) -> float:
    """CPU seconds Redis's main thread has used so far."""
    cpu = db.info("cpu")
    return float(cpu["used_cpu_user_main_thread"] + cpu["used_cpu_sys_main_thread"])


def command_stats(db: redis.Redis) -> dict[str, tuple[int, int]]:
    """Calls and µs inside Redis so far, by command (a script's calls count under their own
    names too)."""
    stats = db.info("commandstats")
    return {k.removeprefix("cmdstat_"): (v["calls"], v["usec"]) for k, v in stats.items()}


def run(args: argparse.Namespace) -> list[Figure]:
    from shared.article import Article
    from shared.kinds.registry import Registry
    from shared.settings import Settings
    from shared.state.article_reader import ArticleReader
    from shared.state.article_writer import ArticleWriter

    say(
        f"== write cost: {args.rounds} rounds of {args.articles:,} new articles and a revision "
        f"of each; {args.reads} reads of a feed"
    )
    best: dict[str, tuple[float, float, float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="newswire-write-cost-") as tmp:
        server = RedisServer(Path(tmp) / "redis").start()
        try:
            settings = Settings(redis_url=server.url, site_publisher="bench")
            db = redis.Redis.from_url(server.url)
            entries = Registry.from_settings(settings).entries
            context = {"default_language": settings.language}

            def write(batch: list[Article]) -> Callable[[], None]:
                async def go() -> None:
                    client = redis.asyncio.Redis.from_url(server.url)
                    writer = ArticleWriter(client, settings, entries)
                    for start in range(0, len(batch), BATCH):
                        results = await writer.upsert_many(batch[start : start + BATCH], "bench")
                        bad = [r for r in results if r.status not in ("created", "updated")]
                        if bad:
                            raise RuntimeError(f"unexpected write results: {bad[:3]}")
                    await client.aclose()

                return lambda: asyncio.run(go())

            for round_ in range(args.rounds):
                factory = ArticleFactory()  # a run of its own: new ids every round
                for label, revision in (("new", 0), ("updated", 1)):
                    batch = [
                        Article.model_validate(factory.make(n, revision=revision), context=context)
                        for n in range(args.articles)
                    ]
                    cpu = main_thread_cpu(db)
                    sample = sample_during(db, write(batch))
                    cpu = (main_thread_cpu(db) - cpu) * 1e6 / len(batch)
                    per = sample.per_article() or 0.0
                    script = sample.per_call("upsert") or 0.0
                    say(
                        f"round {round_ + 1}, {label}: {per:.1f} µs inside Redis per article "
                        f"(script {script:.1f} µs), {cpu:.1f} µs of its CPU"
                    )
                    if label not in best or per < best[label][0]:
                        best[label] = (per, script, per - script, cpu)

            reader = ArticleReader(redis.Redis.from_url(server.url))
            target = "feed:all"
            reader.feed_view(target, 50, TOMBSTONE_MS)  # warm the cache, as a worker's is
            before, cpu = command_stats(db), main_thread_cpu(db)
            for _ in range(args.reads):
                reader.feed_view(target, 50, TOMBSTONE_MS)
            cpu = (main_thread_cpu(db) - cpu) * 1e6 / args.reads
            after = command_stats(db)
            used = {
                name: (calls - before.get(name, (0, 0))[0], usec - before.get(name, (0, 0))[1])
                for name, (calls, usec) in after.items()
                if name != "info" and calls != before.get(name, (0, 0))[0]
            }
            # Warm, the read is one script call; Valkey counts the commands it runs again
            # under their own names, so its time is the script's alone.
            _, script_usec = used.get("evalsha", (0, 0))
            sent = sum(calls for name, (calls, _) in used.items() if name != "evalsha")
            sent /= args.reads
            inside = script_usec / args.reads
            shown = ", ".join(
                f"{name} {calls / args.reads:.0f}× {usec / args.reads:.1f} µs"
                for name, (calls, usec) in sorted(used.items(), key=lambda kv: -kv[1][1])
            )
            say(f"read ({target}, newest 50, warm cache) per call: {shown}; {cpu:.1f} µs CPU")
            db.close()
        finally:
            server.stop()
    figures = [
        Figure(
            f"write step inside Redis, per {label} article (best round)",
            per,
            unit=" µs",
            spec=",.1f",
            note=f"(script {script:.1f} µs, read {read:.1f} µs; Redis CPU {cpu:.1f} µs)",
            at_most=UPSERT_TARGET_US,
        )
        for label, (per, script, read, cpu) in best.items()
    ]
    figures.append(
        Figure(
            "ArticleReader.feed_view(50) inside Redis, per call",
            inside,
            unit=" µs",
            spec=",.1f",
            note=f"(one script call running {sent:.0f} commands; Redis CPU {cpu:.1f} µs)",
        )
    )
    return figures


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.write_cost", description=__doc__.splitlines()[0]
    )
    p.add_argument(
        "--articles", type=positive_int, default=1000, help="new articles a round (default 1000)"
    )
    p.add_argument("--rounds", type=positive_int, default=3, help="rounds (default 3)")
    p.add_argument("--reads", type=positive_int, default=200, help="reads of a feed (default 200)")
    return p


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
