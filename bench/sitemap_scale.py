"""Archive scale: a million articles over ten years, and what one more article then costs.

    .venv/bin/python -m bench.sitemap_scale [--articles 1000000] [--small 10000] [--samples 15]

For each archive size (`--small`, then `--articles`) on a fresh stack:
1. load the archive with `newswire import` (an NDJSON file through the API's validation and
   atomic write) into a scratch Redis, and straight into the stack's Redis (the same write
   step, pipelined, no HTTP) — both rates;
2. build everything from stored state with `newswire rebuild`, by the real workers: feeds and
   sitemaps, then cards (the last 30 days' articles get cards) — times, peak worker memory;
3. PUT new articles over HTTP, one at a time, and time each from the request sent until every
   target it touches is published (feeds, its month's sitemap, the news sitemap, the sitemap
   index after them, its card) — the cost of one article, at both sizes;
4. Redis memory per article.

Article photos come from a local image server (127.0.0.2, allow-listed), so cards fetch and
decode a real 2000×1333 JPEG.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import datetime
from pathlib import Path

from bench.archive import (
    archive,
    load_pipelined,
    load_with_import,
    pause_builders,
    peak_rss_mb,
    resume_builders,
    timed_rebuild,
)
from bench.articles import ISTANBUL, ArticleFactory
from bench.cli import add_stack_arguments, env_overrides, positive_int, run_main
from bench.image_server import ALLOW, image_server
from bench.report import Figure, say
from bench.stacks import redis_client, running_stack, stack_settings
from devstack.stack import Stack

TARGET_RATIO = 1.5
TARGET_RSS_MB = 300
YEARS = 10


# --- one more article -----------------------------------------------------------------------


def time_one_article(stack: Stack, factory: ArticleFactory, n: int, images: str) -> float:
    """Seconds from the PUT sent until every target the article touches is published."""
    from services.render.pipeline.coordinator import Coordinator

    db = redis_client(stack)
    coordinator = Coordinator(db, stack_settings(stack))
    article = factory.make(n, published=datetime.now(ISTANBUL).replace(microsecond=0))
    article["image"] = {"url": f"{images}{article['id']}.jpg", "alt": article["title"]}
    started = time.monotonic()
    response = stack.put(article)
    if response.status_code != 201:
        raise SystemExit(f"PUT failed: {response.status_code} {response.text}")
    event_id, fields = next(
        (eid.decode(), f)
        for eid, f in db.xrevrange("nw:events", count=20)
        if f.get(b"id", b"").decode() == article["id"]
    )
    targets = [*json.loads(fields[b"targets"]), "sitemap:index"]
    while True:
        marks = coordinator.done_marks(targets)
        if all(mark and _not_before(mark, event_id) for _, mark in marks):
            return time.monotonic() - started
        if time.monotonic() - started > 30:
            raise SystemExit(f"not all of {targets} were built within 30 s")
        time.sleep(0.002)


def _not_before(mark: str, event_id: str) -> bool:
    from shared.state.events import event_id_key

    return event_id_key(mark) >= event_id_key(event_id)


# --- the run --------------------------------------------------------------------------------


def measure(size: int, args: argparse.Namespace, images: str) -> dict[str, float]:
    say(f"== an archive of {size:,} articles over {YEARS} years")
    overrides = {
        "NEWSWIRE_FETCH_ALLOW_NETWORKS": ALLOW,
        "NEWSWIRE_BUILD_LEASE_MS": "120000",
        **env_overrides(args.env),
    }
    factory = ArticleFactory(run=f"s{size}")
    with running_stack(overrides) as stack:
        pause_builders(stack)
        db = redis_client(stack)
        before = db.info("memory")["used_memory"]
        found: dict[str, float] = {}
        if not args.skip_import:
            found["import"] = load_with_import(stack, archive(size, factory, images), size)
            say(f"newswire import: {found['import']:,.0f} articles/s")
        found["pipelined"] = load_pipelined(stack, archive(size, factory, images), size)
        found["bytes"] = (db.info("memory")["used_memory"] - before) / size
        say(f"pipelined load: {found['pipelined']:,.0f} articles/s, {found['bytes']:,.0f} B each")
        resume_builders(stack)
        found["build"] = timed_rebuild(stack, "feed", "sitemap")
        found["cards_build"] = timed_rebuild(stack, "card")
        cards = Path(stack.env["NEWSWIRE_ARTIFACT_DIR"]) / "cards"
        found["cards"] = len(list(cards.glob("*.jpg")))
        say(
            f"full build: {found['build']:.1f} s, then {found['cards']:,.0f} cards in "
            f"{found['cards_build']:.1f} s"
        )
        samples = []
        for i in range(args.samples):
            time.sleep(1.0)  # a lone article: nothing else building
            samples.append(time_one_article(stack, factory, size + i, images))
        found["one"] = statistics.median(samples)
        found["one_max"] = max(samples)
        found["rss"] = peak_rss_mb(stack)
        say(
            f"one more article: median {1000 * found['one']:.0f} ms, max "
            f"{1000 * found['one_max']:.0f} ms; peak worker RSS {found['rss']:.0f} MB"
        )
    return found


def run(args: argparse.Namespace) -> list[Figure]:
    with image_server() as images:
        small = measure(args.small, args, images)
        large = measure(args.articles, args, images)
    ratio = large["one"] / small["one"]
    rss = max(small["rss"], large["rss"])
    figures = []
    if "import" in large:
        figures.append(Figure("newswire import", large["import"], unit=" articles/s"))
    figures += [
        Figure("pipelined load", large["pipelined"], unit=" articles/s"),
        Figure(
            f"full build, feeds + sitemaps, {args.articles:,}",
            large["build"],
            unit=" s",
            spec=".1f",
        ),
        Figure(
            f"full build, {large['cards']:,.0f} cards (last 30 days)",
            large["cards_build"],
            unit=" s",
            spec=".1f",
        ),
        Figure(f"one article at {args.small:,}", 1000 * small["one"], unit=" ms", note="(median)"),
        Figure(
            f"one article at {args.articles:,}", 1000 * large["one"], unit=" ms", note="(median)"
        ),
        Figure("ratio", ratio, spec=".2f", at_most=TARGET_RATIO),
        Figure("peak worker RSS", rss, unit=" MB", at_most=TARGET_RSS_MB),
        Figure("Redis memory per article", large["bytes"], unit=" B"),
    ]
    return figures


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.sitemap_scale", description=__doc__)
    p.add_argument("--articles", type=positive_int, default=1_000_000, help="the large archive")
    p.add_argument("--small", type=positive_int, default=10_000, help="the small archive")
    p.add_argument("--samples", type=positive_int, default=15, help="new articles to time")
    p.add_argument("--skip-import", action="store_true", help="load only the pipelined way")
    add_stack_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
