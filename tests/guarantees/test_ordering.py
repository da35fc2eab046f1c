"""Ordering: whatever order updates, takedowns and builds arrive in, the newest state wins.

Updates are ordered by `updated_at`: after v3, a late v2 (twice) changes nothing anywhere, and
revisions PUT concurrently in a shuffled order end at the newest. A takedown followed by a
late older update stays a takedown. An older build (its output rendered before a newer one
published) never overwrites the newer output, and a redelivered task rebuilds nothing.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from devstack.stack import Stack
from services.render.pipeline.builds import build_target
from services.render.pipeline.celery_app import make_context
from services.render.pipeline.rendering import Output
from shared.language.slugs import slugify
from shared.settings import Settings
from tests.guarantees.conftest import (
    SECTIONS,
    TAGS,
    article,
    iso,
    redis_of,
    wait_settled,
)
from tests.render.building import build

ZONE = ZoneInfo("Europe/Istanbul")


# On the stack the guarantee modules share (`guarantee_stack`): tests/module_groups.py runs them
# on one worker.
@pytest.fixture(scope="module")
def stack(guarantee_stack: Stack) -> Stack:
    return guarantee_stack


def revision(ident: str, number: int, published: datetime, rng: random.Random) -> dict[str, Any]:
    """Revision `number` of an article: each moves it to another section and retitles it."""
    return article(
        ident,
        published,
        title=f"Sürüm {number}: {ident}",
        section=SECTIONS[number % len(SECTIONS)],
        tags=(TAGS[number % len(TAGS)],),
        updated=published + timedelta(minutes=number),
    )


def outputs_of(raw: dict[str, Any]) -> dict[str, str]:
    """Every output that shows `raw` (path → what identifies the article in it)."""
    month = datetime.fromisoformat(raw["published_at"]).astimezone(ZONE).strftime("%Y-%m")
    docs = [
        "feeds/all.json",
        f"feeds/sections/{slugify(raw['section'])}.json",
        f"sitemaps/{month}.xml",
        "sitemaps/news.xml",
        f"cards/{raw['id']}.html",
    ]
    docs += [f"feeds/tags/{slugify(tag)}.json" for tag in raw["tags"]]
    return {doc: raw["url"] for doc in docs}


def shows(stack: Stack, doc: str, raw: dict[str, Any]) -> bool:
    """Whether `doc` shows exactly this revision of the article (its title, and in the
    sitemap its lastmod)."""
    response = stack.feed(doc)
    if response.status_code != 200:
        return False
    body = response.text
    if doc.startswith("sitemaps/") and "news" not in doc:
        updated = datetime.fromisoformat(raw["updated_at"]).isoformat()  # its own offset
        return f"<loc>{raw['url']}</loc><lastmod>{updated}</lastmod>" in body
    title = raw["title"].replace("'", "&#x27;")
    return raw["url"] in body and (title in body or json.dumps(raw["title"])[1:-1] in body)


def mentions(stack: Stack, doc: str, url: str) -> bool:
    response = stack.feed(doc)
    return response.status_code == 200 and (
        f'{url}"' in response.text or f"{url}<" in response.text
    )


@pytest.mark.processes
def test_late_older_updates_change_nothing_and_the_newest_wins_everywhere(stack, rng) -> None:
    db = redis_of(stack)
    published = datetime.now(UTC) - timedelta(hours=2)
    ident = "sira-1"
    v1, v2, v3 = (revision(ident, n, published, rng) for n in (1, 2, 3))
    statuses = [stack.put(raw).json()["status"] for raw in (v3, v2, v2)]
    assert statuses == ["created", "stale", "stale"]
    batch = stack.http.post(f"{stack.ingest_url}/v1/articles:batch", json={"articles": [v1, v2]})
    assert [r["status"] for r in batch.json()["results"]] == ["stale", "stale"]
    wait_settled(db)
    for doc in outputs_of(v3):
        assert shows(stack, doc, v3), doc
    for old in (v1, v2):  # their sections and tags never showed it
        for doc in set(outputs_of(old)) - set(outputs_of(v3)):
            assert not mentions(stack, doc, v3["url"]), doc

    # Revisions 1..8 of another article PUT at once, in a seeded shuffled order.
    ident = "sira-2"
    revisions = [revision(ident, n, published, rng) for n in range(1, 9)]
    shuffled = rng.sample(revisions, len(revisions))
    print(f"\nPUT order: {[int(r['title'].split(':')[0].split()[1]) for r in shuffled]}")
    threads = [threading.Thread(target=stack.put, args=(raw,)) for raw in shuffled]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_settled(db)
    newest = revisions[-1]
    stored = stack.http.get(f"{stack.ingest_url}/v1/articles/{ident}").json()
    assert newest["title"] in json.dumps(stored, ensure_ascii=False)
    for doc in outputs_of(newest):
        assert shows(stack, doc, newest), doc
    for old in revisions[:-1]:
        for doc in set(outputs_of(old)) - set(outputs_of(newest)):
            assert not mentions(stack, doc, newest["url"]), doc


@pytest.mark.processes
def test_a_takedown_then_a_late_older_update_stays_down(stack, rng) -> None:
    db = redis_of(stack)
    published = datetime.now(UTC) - timedelta(hours=3)
    ident = "sira-geri"
    v1, v2 = (revision(ident, n, published, rng) for n in (1, 2))
    assert stack.put(v1).status_code == 201
    assert stack.put(v2).json()["status"] == "updated"
    wait_settled(db)
    assert all(shows(stack, doc, v2) for doc in outputs_of(v2))
    assert stack.delete(ident).json()["status"] == "retracted"
    late = [stack.put(v1).json()["status"], stack.put(v2).json()["status"]]
    batch = stack.http.post(f"{stack.ingest_url}/v1/articles:batch", json={"articles": [v1, v2]})
    late += [r["status"] for r in batch.json()["results"]]
    assert late == ["stale"] * 4
    assert stack.http.get(f"{stack.ingest_url}/v1/articles/{ident}").status_code == 410
    wait_settled(db)
    docs = {**outputs_of(v1), **outputs_of(v2)}
    watch_until = time.monotonic() + 2
    while time.monotonic() < watch_until:
        for doc in docs:
            if doc.startswith("cards/"):
                assert stack.feed(doc).status_code == 410
                assert stack.feed(doc.replace(".html", ".jpg")).status_code == 410
            else:
                assert not mentions(stack, doc, v2["url"]), doc
        time.sleep(0.1)


def test_an_older_build_never_overwrites_a_newer_one(
    settings: Settings,
    write: Callable[..., Any],
    retract: Callable[[str], Any],
    db: redis.Redis,
    rng: random.Random,
) -> None:
    ctx = make_context(settings, lambda target: None)
    published = datetime.now(UTC) - timedelta(hours=1)
    ident = "eski-derleme"
    v1, v2 = (revision(ident, n, published, rng) for n in (1, 2))
    v2["section"] = v1["section"]  # the same targets, so each has an old and a new output
    v2["tags"] = v1["tags"]
    assert write(v1).status == "created"
    targets = ["feed:all", f"feed:section:{slugify(v1['section'])}", "sitemap:news"]
    targets += [f"sitemap:{published.astimezone(ZONE):%Y-%m}", f"card:{ident}"]
    old: dict[str, tuple[Output, str]] = {}
    for target in targets:
        assert build(ctx, target) == "published"
        # The output of v1 and the watermark it was built at: an old build, held back.
        watermark = db.hget(f"nw:target:{target}", "done")
        old[target] = (
            ctx.renderers.for_target(target).render(target, ctx.render_context),
            watermark,
        )

    assert write(v2).status == "updated"
    for target in targets:
        assert build(ctx, target) == "published"
    newer = files(settings.artifact_dir)
    for target, (output, watermark) in old.items():
        assert not ctx.store.publish(target, output.artifacts, watermark), target
        assert build_target(target, ctx) == "skipped"  # a redelivered task: nothing owed
    assert files(settings.artifact_dir) == newer
    card = f"cards/{ident}.html"
    assert v2["title"].encode() in (settings.artifact_dir / card).read_bytes()

    assert retract(ident).status == "retracted"
    for target in targets:
        build(ctx, target)
    gone = files(settings.artifact_dir)
    for target, (output, watermark) in old.items():
        assert not ctx.store.publish(target, output.artifacts, watermark), target
    assert files(settings.artifact_dir) == gone
    assert ctx.store.gone(card) and ctx.store.get(card) is None
    assert not any(v1["url"].encode() in body for body, _ in gone.values())
    print(f"\nolder builds refused for {len(old)} targets; published at {iso(published)}")


def files(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        f.relative_to(root).as_posix(): (f.read_bytes(), f.stat().st_mtime_ns)
        for f in sorted(root.rglob("*"))
        if f.is_file() and not f.relative_to(root).as_posix().startswith(".state/")
    }
