"""Takedowns: gone from every output, even while a build that read the article is still
running and an older update is still on its way, and nothing brings it back.

The race is made deterministic: the section feed, the month's sitemap and the card are built
by kinds that pause right after reading state (tests/guarantees/slow_kinds.py), each on its
own worker. An update starts those builds; once all three hold the updated article, it is
taken down, the older update's event is delivered again and its builds queued again. Every
feed, sitemap and card is then watched: the update those slow builds held never shows, the
article goes from every one, and it stays gone while every build of the race finishes, also
after the old build's output is offered to the store again under its older watermark.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from devstack.stack import Stack
from services.render.pipeline.build_queue import BUILD_TASK
from services.render.pipeline.celery_app import make_celery, make_context
from shared.kinds.registry import Registry
from shared.language.slugs import slugify
from shared.settings import Settings
from tests.conftest import wait_until
from tests.guarantees.conftest import (
    article,
    iso,
    redis_of,
    settled,
    snapshot,
    wait_settled,
)
from tests.guarantees.slow_kinds import ARM, READ

# On the stack the guarantee modules share (`guarantee_stack`): tests/module_groups.py runs them
# on one worker.
pytestmark = pytest.mark.processes

# How long the slow builds hold the old state: the takedown must land inside it, so many
# times what reading their outputs and the takedown's request take.
PAUSE_S = 2.0
GONE_DEADLINE_S = 30.0  # for the article to go from everywhere, and every build to finish
WATCH_S = 3.0  # watched at least this long once gone: nothing may bring it back
ZONE = ZoneInfo("Europe/Istanbul")


def test_a_takedown_beats_a_slow_build_and_a_late_update(guarantee_stack: Stack) -> None:
    # Its three workers: the two slow builds and everything else each on one.
    _race(guarantee_stack)


def _race(stack: Stack) -> None:
    db = redis_of(stack)
    ident = "kaldirilan-haber"
    published = datetime.now(UTC) - timedelta(hours=1)
    v1 = article(
        ident,
        published,
        title="İlk sürüm",
        section="Dünya",
        tags=("NATO",),
        authors=("Ayşe Yılmaz",),
        updated=published,
    )
    v2 = {**v1, "title": "Güncellenen sürüm", "updated_at": iso(published + timedelta(minutes=5))}
    # What of the update each slow build's output would show: its title, its sitemap lastmod.
    marks = [v2["title"].encode(), datetime.fromisoformat(v2["updated_at"]).isoformat().encode()]
    month = published.astimezone(ZONE).strftime("%Y-%m")
    slow = [f"feed:section:{slugify(v1['section'])}", f"sitemap:{month}", f"card:{ident}"]
    stems = ["feeds/all", "feeds/sections/dunya", "feeds/tags/nato", "feeds/authors/ayse-yilmaz"]
    feeds = [f"{stem}.{fmt}" for stem in stems for fmt in ("rss", "atom", "json", "html")]
    sitemaps = [f"sitemaps/{month}.xml", "sitemaps/news.xml"]
    cards = [f"cards/{ident}.html", f"cards/{ident}.jpg"]
    paths = [*feeds, *sitemaps, *cards]
    held = ["feeds/sections/dunya.json", f"sitemaps/{month}.xml", f"cards/{ident}.html"]

    assert stack.put(v1).status_code == 201
    wait_settled(db)
    shown = snapshot(stack.feeds_url, paths)
    assert all(v1["url"].encode() in shown[p].body for p in paths if not p.endswith(".jpg"))

    for target in slow:
        db.set(ARM.format(target=target), PAUSE_S)
    assert stack.put(v2).json()["status"] == "updated"
    update_event = db.xrevrange("nw:events", count=1)[0]
    wait_until(lambda: all(db.exists(READ.format(target=t)) for t in slow), 30)
    holding = time.monotonic()
    # Three builds now hold the update; the outputs they own still show the first version.
    old_output = _render_now(stack, slow)
    deleted = stack.delete(ident)
    taken_down = time.monotonic()
    assert deleted.json()["status"] == "retracted"
    # The race is on only if no slow build has finished (covered the update) by now.
    finished = [t for t in slow if db.hget(f"nw:target:{t}", "done") == update_event[0]]
    assert not finished, f"{finished} built before the takedown: the race was not run"
    print(f"\ntakedown {taken_down - holding:.2f} s into the slow builds' {PAUSE_S} s pause")
    # The older update again, as a late redelivery, and its builds queued once more.
    db.xadd("nw:events", update_event[1])
    _send_builds(stack, slow)

    # Watched until it is gone from everywhere, then on until every build of the race has
    # finished (and WATCH_S at least): the held update never shows, and once gone it stays.
    gone_after: float | None = None
    first_gone: dict[str, float] = {}
    while True:
        now = snapshot(stack.feeds_url, paths)
        elapsed = time.monotonic() - taken_down
        for path in held:
            assert not any(m in now[path].body for m in marks), f"{path} showed the held update"
        left = [path for path in paths if not _gone(path, now[path], v1["url"])]
        for path in paths:
            if path not in left:
                first_gone.setdefault(path, round(elapsed, 3))
        if not left:
            gone_after = elapsed if gone_after is None else gone_after
        else:
            assert gone_after is None, f"{left} showed it again {elapsed:.2f} s after the takedown"
        if gone_after is not None and elapsed >= gone_after + WATCH_S and settled(db):
            break
        if elapsed > GONE_DEADLINE_S:
            what = f"gone from {left}" if left else "every build of the race finished"
            pytest.fail(f"never happened (waited {GONE_DEADLINE_S} s): {what}; {first_gone}")
        time.sleep(0.02)
    print(f"gone everywhere {gone_after * 1000:.0f} ms after the takedown (a build held it)")

    # The old build's output offered again under its older watermark, and the update again.
    for target, (output, watermark) in old_output.items():
        assert not _store(stack).publish(target, output.artifacts, watermark), target
    db.xadd("nw:events", update_event[1])
    wait_settled(db)
    final = snapshot(stack.feeds_url, paths)
    assert [p for p in paths if not _gone(p, final[p], v1["url"])] == []
    assert all(final[c].status == 410 for c in cards)


def _gone(path: str, served, url: str) -> bool:
    if path.startswith("cards/"):
        return served.status == 410
    if served.status == 404:
        return path.startswith("sitemaps/")  # a month with nothing left has no file
    # A tombstone (Atom's at:deleted-entry) names the item's id, not its URL.
    return served.status == 200 and not any(
        f"{url}{end}".encode() in served.body for end in ('"', "<")
    )


def _settings(stack: Stack) -> Settings:
    return Settings(
        redis_url=stack.env["NEWSWIRE_REDIS_URL"],
        artifact_dir=Path(stack.env["NEWSWIRE_ARTIFACT_DIR"]),
        feeds_base_url=stack.env["NEWSWIRE_FEEDS_BASE_URL"],
    )


def _store(stack: Stack):
    return make_context(_settings(stack), lambda target: None).store


def _render_now(stack: Stack, targets: list[str]) -> dict:
    """What a build of each target would publish now, and the watermark it would carry."""
    ctx = make_context(_settings(stack), lambda target: None)
    marks = dict(ctx.coordinator.done_marks(targets))
    want = {t: ctx.redis.hget(f"nw:target:{t}", "want").decode() for t in targets}
    return {
        t: (ctx.renderers.for_target(t).render(t, ctx.render_context), want[t] or marks[t])
        for t in targets
    }


def _send_builds(stack: Stack, targets: list[str]) -> None:
    settings = _settings(stack)
    registry = Registry.from_settings(settings)
    app = make_celery(settings, registry)
    for target in targets:
        app.send_task(BUILD_TASK, args=[target], queue=registry.queue(target))
