"""`newswire rebuild`: targets rebuilt from stored state, here or by the real workers.

The rebuild by the workers runs the command as operators do, a process of its own; the other
tests call its `main` in this process, with the same environment."""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

import feedparser
import pytest
import redis
from tqdm import tqdm

from services.cli.rebuild import request_rebuild, wait_for_workers
from services.render.pipeline.builds import build_target
from services.render.pipeline.celery_app import make_context
from services.render.pipeline.dispatcher import Dispatcher
from shared.kinds.registry import Registry
from tests.cli.conftest import running_pipeline
from tests.conftest import wait_until
from tests.sitemap_schemas import validate

pytestmark = pytest.mark.processes


def artifacts(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and ".state" not in p.parts and p.suffix not in (".gz", ".br")
    )


def test_local_rebuild_builds_every_known_target(newswire_in_process, write, corpus, settings):
    for article in corpus:
        write(article)
    result = newswire_in_process("rebuild", "--local")
    assert result.returncode == 0, result.stderr
    assert "rebuild: 100%" in result.stderr
    built = artifacts(settings.artifact_dir)
    for path in (
        "feeds/all.rss",
        "feeds/sections/dunya.atom",
        "feeds/sections/yasam.json",
        "feeds/tags/agit.rss",
        "feeds/authors/dis-haberler-servisi.rss",
        "sitemaps/2026-01.xml",
        "sitemaps/news.xml",
        "sitemap.xml",
    ):
        assert path in built, path
    parsed = feedparser.parse((settings.artifact_dir / "feeds/sections/dunya.rss").read_bytes())
    assert len(parsed.entries) == 4
    index = validate((settings.artifact_dir / "sitemap.xml").read_bytes())
    assert len(index) == 2  # the January partition and the news sitemap


def test_rebuild_by_kind_and_by_name(newswire_in_process, write, seed_article, settings):
    write(seed_article)
    assert newswire_in_process("rebuild", "--local", "--kind", "sitemap").returncode == 0
    assert not any(p.startswith("feeds/") for p in artifacts(settings.artifact_dir))
    assert newswire_in_process("rebuild", "--local", "feed:tag:nato").returncode == 0
    assert [p for p in artifacts(settings.artifact_dir) if p.startswith("feeds/")] == [
        "feeds/tags/nato.atom",
        "feeds/tags/nato.html",
        "feeds/tags/nato.json",
        "feeds/tags/nato.rss",
    ]


def test_unknown_names_are_refused_with_the_choices(newswire_in_process):
    bad_target = newswire_in_process("rebuild", "feed:nope:x")
    assert bad_target.returncode == 2
    assert "unknown target 'feed:nope:x'" in bad_target.stderr
    bad_kind = newswire_in_process("rebuild", "--kind", "podcast")
    assert bad_kind.returncode == 2
    assert "unknown kind 'podcast': kinds are feed, sitemap, card" in bad_kind.stderr


def test_without_workers_it_says_what_to_start(newswire_in_process, write, seed_article):
    write(seed_article)
    started = time.monotonic()
    result = newswire_in_process("rebuild", "feed:all", "--wait", "1")
    assert result.returncode == 2
    assert time.monotonic() - started >= 1  # it did wait for progress before giving up
    # Gave up on `--wait`, not on the 30 s default.
    assert "no build finished in 1 s" in result.stderr
    assert "are the dispatcher and a worker running?" in result.stderr
    assert "--local" in result.stderr


def test_rebuild_by_the_workers_restores_lost_files(
    databases, tmp_path, newswire, write, seed_article
):
    with running_pipeline(databases, tmp_path / "pipeline") as pipeline:
        root = pipeline.settings.artifact_dir
        assert write(seed_article, using=pipeline.settings).status == "created"
        wait_until(lambda: (root / "sitemaps" / "2026-01.xml").exists(), timeout=30)
        db = redis.Redis.from_url(pipeline.settings.redis_url)
        wait_until(lambda: db.zcard("nw:due") == 0, timeout=30)  # every build done, none cooling
        shutil.rmtree(root / "feeds")
        (root / "sitemaps" / "2026-01.xml").unlink()
        result = newswire("rebuild", "--wait", "10", **pipeline.env)  # as operators run it
        assert result.returncode == 0, result.stderr
        assert (root / "feeds" / "sections" / "dunya.rss").exists()
        assert seed_article["url"] in (root / "sitemaps" / "2026-01.xml").read_text()


def test_a_rebuild_asked_in_several_events_is_done_when_every_target_is(
    settings, write, seed_article
):
    # Targets are asked for a thousand per event; each is built under its own event's id.
    write(seed_article)
    ctx = make_context(settings, lambda _: None)
    targets = ["feed:all", "feed:section:dunya", "feed:tag:nato", "feed:tag:rusya", "feed:tag:agit"]
    since = request_rebuild(ctx.redis, settings, targets, chunk=2)  # three events
    queued: list[str] = []
    dispatcher = Dispatcher(
        ctx.redis, ctx.coordinator, queued.append, settings, "d", Registry.from_settings(settings)
    )
    dispatcher.ensure_group()
    dispatcher.step(block_ms=10)
    for target in queued:
        build_target(target, ctx)  # as a worker would
    with tqdm(total=len(targets), file=io.StringIO()) as bar:
        wait_for_workers(ctx.coordinator, targets, since, bar, stall_s=2)
        assert bar.n == len(targets)
