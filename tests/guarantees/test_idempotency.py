"""Idempotency: every build run again, side by side with itself, or owed again by a duplicate
event gives byte-identical output, down to the modification times served as Last-Modified.

The first test builds every target of every kind in this process against a real Redis and
filesystem store, then builds each again twice in a row and twice at once (two threads with
their own connections, as two workers would), and compares every file with the first build.
The second runs the real processes: each event on the stream is appended again (a duplicate
delivery), and each target is sent to two feed workers at once; what the feeds service serves
(bytes, ETag, Last-Modified) must not change.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from devstack.stack import Stack
from services.render.pipeline.build_queue import BUILD_TASK
from services.render.pipeline.builds import BuildContext, build_target
from services.render.pipeline.celery_app import make_celery, make_context
from services.render.pipeline.coordinator import Coordinator
from shared.kinds.registry import Registry
from shared.language.slugs import slugify
from shared.settings import Settings
from tests.guarantees.conftest import (
    AUTHORS,
    SECTIONS,
    TAGS,
    article,
    differences,
    feed_paths,
    redis_of,
    snapshot,
    wait_settled,
)
from tests.render.building import build

ZONE = ZoneInfo("Europe/Istanbul")


def corpus(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Articles over two months and the last two days: feeds, partitions, news and cards."""
    now = datetime.now(UTC)
    raws = []
    for number in range(count):
        # In the news window, within the card window, or past both (and in an older month).
        days = (rng.uniform(40, 60), rng.uniform(0.05, 1.6), rng.uniform(3, 20))[number % 3]
        published = now - timedelta(days=days)
        raws.append(
            article(
                f"haber-{number}",
                published,
                title=f"Haber {number}: İstanbul'da ılık bir gün {rng.randrange(10**6)}",
                section=rng.choice(SECTIONS),
                tags=tuple(rng.sample(TAGS, rng.randint(0, 3))),
                authors=tuple(rng.sample(AUTHORS, rng.randint(0, 2))),
                updated=published + timedelta(minutes=rng.randrange(90)),
            )
        )
    return raws


def every_target(ctx: BuildContext) -> list[str]:
    """Every target, in an order where an index follows what it lists."""
    by_kind = {kind.name: kind.known_targets(ctx.reader) for kind in ctx.renderers.registry.kinds}
    return [*by_kind["sitemap"], *by_kind["card"], *by_kind["feed"]]


def store_files(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every served file (variants included) with its bytes and modification time."""
    return {
        file.relative_to(root).as_posix(): (file.read_bytes(), file.stat().st_mtime_ns)
        for file in sorted(root.rglob("*"))
        if file.is_file() and not file.relative_to(root).as_posix().startswith(".state/")
    }


def test_each_build_run_twice_in_a_row_and_at_once_gives_the_same_bytes(
    settings: Settings, write_many: Callable[..., Any], rng: random.Random
) -> None:
    settings = settings.model_copy(update={"card_recent_days": 0})
    assert {r.status for r in write_many(corpus(rng, 40), using=settings)} == {"created"}
    ctx = make_context(settings, lambda target: None)
    targets = every_target(ctx)
    assert {t.partition(":")[0] for t in targets} == {"feed", "sitemap", "card"}
    for target in targets:
        assert build(ctx, target) == "published", target
    baseline = store_files(settings.artifact_dir)
    assert any(path.startswith("cards/") for path in baseline)

    for target in targets:  # twice in a row, each owed by a new event
        build(ctx, target)
        build(ctx, target)
    assert store_files(settings.artifact_dir) == baseline

    # Twice at once, each with its own connections and store, as on two workers: the task
    # (the coordinator lets one copy build and skips the other) and, past the coordinator, the
    # render and the publish themselves under one watermark.
    contexts = [make_context(settings, lambda target: None) for _ in range(2)]
    outcomes: list[str] = []
    for target in targets:
        owed = f"{ctx.reader.now_ms()}-{rng.randrange(10**6)}"
        ctx.coordinator.mark([(target, owed)])
        together(lambda own, target=target: outcomes.append(build_target(target, own)), contexts)
        together(
            lambda own, target=target, owed=owed: render_and_publish(own, target, owed), contexts
        )
    assert store_files(settings.artifact_dir) == baseline
    print(f"\n{len(targets)} targets; outcomes of the task run at once: {Counter(outcomes)}")
    assert "published" in outcomes


def together(work: Callable[[BuildContext], object], contexts: list[BuildContext]) -> None:
    """Run `work` once per context, in threads released at the same moment."""
    start = threading.Barrier(len(contexts))
    errors: list[BaseException] = []

    def run(own: BuildContext) -> None:
        start.wait()
        try:
            work(own)
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(own,)) for own in contexts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def render_and_publish(ctx: BuildContext, target: str, watermark: str) -> None:
    """A build's body without the coordinator: render, then publish or delete."""
    output = ctx.renderers.for_target(target).render(target, ctx.render_context)
    if ctx.store.publish(target, output.artifacts, watermark) and output.remove:
        ctx.store.delete(target, output.remove, watermark, gone=output.gone)


@pytest.mark.processes
def test_every_event_delivered_twice_and_built_on_two_workers_changes_nothing(
    guarantee_stack: Stack, rng: random.Random
) -> None:
    stack = guarantee_stack
    db = redis_of(stack)
    raws = corpus(rng, 30)
    response = stack.http.post(f"{stack.ingest_url}/v1/articles:batch", json={"articles": raws})
    assert {r["status"] for r in response.json()["results"]} == {"created"}
    wait_settled(db, 30)
    paths = served_paths(stack, raws)
    baseline = snapshot(stack.feeds_url, paths)
    assert [p for p in paths if baseline[p].status != 200] == []

    # Every event again, as a redelivery would bring it.
    events = db.xrange("nw:events")
    for _, fields in events:
        db.xadd("nw:events", fields)
    wait_settled(db, 30)
    again = snapshot(stack.feeds_url, paths)
    assert differences(baseline, again) == []

    # Every target owed once more and sent twice, so two workers build it at once.
    settings = Settings(redis_url=stack.env["NEWSWIRE_REDIS_URL"])
    registry = Registry.from_settings(settings)
    app = make_celery(settings, registry)
    targets = sorted({t for _, fields in events for t in json.loads(fields[b"targets"])})
    owed = f"{int(db.time()[0]) * 1000}-{rng.randrange(10**6)}"
    Coordinator(db, settings).mark([(target, owed) for target in targets])
    for target in targets:
        for _ in range(2):
            app.send_task(BUILD_TASK, args=[target], queue=registry.queue(target))
    wait_settled(db, 30)
    again = snapshot(stack.feeds_url, paths)
    assert differences(baseline, again) == []
    print(f"\n{len(events)} events delivered twice, {len(targets)} targets built twice")


def served_paths(stack: Any, raws: list[dict[str, Any]]) -> list[str]:
    slugs = {
        "sections": sorted({slugify(r["section"]) for r in raws}),
        "tags": sorted({slugify(t) for r in raws for t in r["tags"]}),
        "authors": sorted({slugify(a["name"]) for r in raws for a in r["authors"]}),
    }
    months = sorted(
        {datetime.fromisoformat(r["published_at"]).astimezone(ZONE).strftime("%Y-%m") for r in raws}
    )
    # Articles older than NEWSWIRE_CARD_RECENT_DAYS (30) when written get no card.
    month_ago = datetime.now(UTC) - timedelta(days=30)
    recent = [r for r in raws if datetime.fromisoformat(r["published_at"]) > month_ago]
    cards = [f"cards/{r['id']}.{ext}" for r in recent for ext in ("jpg", "html")]
    sitemaps = ["sitemap.xml", "sitemaps/news.xml", *(f"sitemaps/{m}.xml" for m in months)]
    return [*feed_paths(slugs), *sitemaps, "index.html", *cards]
