"""Archives for the scale benchmarks: generated, loaded (pipelined or with `newswire
import`), and rebuilt by the real workers with `newswire rebuild`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.articles import ISTANBUL, ArticleFactory
from bench.report import Progress
from bench.stacks import redis_client, stack_settings
from devstack.redis_server import RedisServer
from devstack.stack import Stack

BUILDERS = ("dispatcher", "worker", "card-worker")


def archive(
    n: int, factory: ArticleFactory, images: str, years: float = 10
) -> Iterator[dict[str, Any]]:
    """`n` articles published evenly over the last `years`, the newest an hour ago."""
    end = datetime.now(ISTANBUL).replace(microsecond=0) - timedelta(hours=1)
    step = timedelta(days=365.25 * years) / n
    for i in range(n):
        article = factory.make(i, published=end - step * (n - 1 - i))
        if "image" in article:
            article["image"]["url"] = f"{images}{article['id']}.jpg"
        yield article


def load_pipelined(stack: Stack, articles: Iterator[dict[str, Any]], n: int) -> float:
    """Write through the write step (Lua), pipelined, 1,000 at a time; returns articles/s."""
    from shared.article import Article
    from shared.kinds.registry import Registry
    from shared.state.article_writer import ArticleWriter

    settings = stack_settings(stack)
    context = {"default_language": settings.language}
    progress = Progress("load")

    async def go() -> None:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(settings.redis_url)
        writer = ArticleWriter(client, settings, Registry.from_settings(settings).entries)
        batch: list[Article] = []
        for done, raw in enumerate(articles, start=1):
            batch.append(Article.model_validate(raw, context=context))
            if len(batch) == 1000 or done == n:
                await writer.upsert_many(batch, "bench")
                batch = []
                progress.update(f"{done:,} of {n:,} written")
        await client.aclose()

    started = time.monotonic()
    asyncio.run(go())
    return n / (time.monotonic() - started)


def load_with_import(stack: Stack, articles: Iterator[dict[str, Any]], n: int) -> float:
    """`newswire import` of the archive as NDJSON into a scratch Redis; returns articles/s."""
    with tempfile.TemporaryDirectory(prefix="newswire-import-") as tmp:
        path = Path(tmp) / "archive.ndjson"
        with path.open("w", encoding="utf-8") as out:
            for raw in articles:
                out.write(json.dumps(raw, ensure_ascii=False) + "\n")
        scratch = RedisServer(Path(tmp) / "redis").start()
        try:
            env = {**stack.env, "NEWSWIRE_REDIS_URL": scratch.url}
            started = time.monotonic()
            result = newswire(env, "import", str(path), "--publisher", "bench")
            elapsed = time.monotonic() - started
        finally:
            scratch.stop()
    if result.returncode != 0:
        raise SystemExit(f"newswire import failed:\n{result.stderr[-2000:]}")
    return n / elapsed


def newswire(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the operator command; its progress bar goes to this terminal."""
    full = {**os.environ, **env}
    argv = [sys.executable, "-m", "services.cli", *args]
    return subprocess.run(argv, env=full, stdout=subprocess.PIPE, stderr=None, text=True)


def pause_builders(stack: Stack) -> None:
    for name in BUILDERS:
        stack.processes.kill(name)


def resume_builders(stack: Stack) -> None:
    """Start the dispatcher and workers again, the dispatcher past the loaded events: the
    archive is built by `newswire rebuild`, as an operator migrating one would."""
    db = redis_client(stack)
    settings = stack_settings(stack)
    db.xgroup_setid(settings.events_stream, settings.consumer_group, "$")
    for name in BUILDERS:
        (stack.processes.log_dir / f"{name}.log").unlink(missing_ok=True)
        stack.processes.start(name)
    stack.wait_worker_ready()


def timed_rebuild(stack: Stack, *kinds: str) -> float:
    args = [arg for kind in kinds for arg in ("--kind", kind)]
    started = time.monotonic()
    result = newswire(stack.env, "rebuild", *args, "--wait", "300")
    if result.returncode != 0:
        raise SystemExit(f"newswire rebuild {' '.join(args)} failed")
    return time.monotonic() - started


def peak_rss_mb(stack: Stack, names: tuple[str, ...] = ("worker", "card-worker")) -> float:
    """The largest peak resident memory (VmHWM) of any process of these services."""
    groups = {stack.processes.running[name].pid for name in names}
    peak = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            if int(fields[2]) not in groups:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak / 1024
