"""Building a target from current Redis state into the artifact store."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import feedparser

from bench.publish_latency import builds_logged
from services.render.pipeline import last_builds
from services.render.pipeline.builds import build_target
from services.render.pipeline.coordinator import Coordinator
from services.render.websub.delivery import publish_hook
from shared.state.article_reader import ArticleReader
from shared.store.artifacts import encode
from shared.websub import Subscriptions, topic_url
from tests.conftest import load_corpus
from tests.counted_redis import counted_client
from tests.render.building import build


def titles(ctx, path: str) -> list[str]:
    parsed = feedparser.parse(ctx.store.get(path).body)
    assert not parsed.bozo
    return [entry.title for entry in parsed.entries]


def test_section_feed_holds_its_articles_newest_first(ctx, write, corpus):
    for article in corpus:
        write(article)
    assert build(ctx, "feed:section:dunya") == "published"
    assert titles(ctx, "feeds/sections/dunya.rss") == [
        "Rusya'dan flaş çıkış: Şansımız var",
        "Fırat'ın batısında YPG çözüldü: Suriye ordusu stratejik Tabka’yı ele geçirdi!",
        "İsrailli aşırı sağcı Bakan Smotrich’ten skandal çağrı",
        "Putin'in temsilcisinden olay yaratan çıkış: \"Babanız Trump'ı kışkırtmayın!\"",
    ]
    for path in ("feeds/sections/dunya.atom", "feeds/sections/dunya.json"):
        assert ctx.store.get(path) is not None
    assert json.loads(ctx.store.get("feeds/sections/dunya.json").body)["title"] == "Haber — Dünya"


def test_feed_size_caps_the_items(ctx, write, corpus):
    for article in corpus:
        write(article)
    small = replace(ctx, settings=ctx.settings.model_copy(update={"feed_size": 2}))
    build(small, "feed:all")
    assert len(titles(ctx, "feeds/all.atom")) == 2


def test_embargoed_article_leaks_nowhere(ctx, write, corpus):
    for article in corpus:
        write(article)
    build(ctx, "feed:section:dunya")
    before = {f: ctx.store.get(f"feeds/sections/dunya.{f}").body for f in ("rss", "atom", "json")}
    future = datetime.now(UTC) + timedelta(hours=1)
    embargoed = {
        **corpus[0],
        "id": "dunya-embargo",
        "title": "Ambargolu haber",
        "published_at": future.isoformat(),
        "updated_at": future.isoformat(),
    }
    write(embargoed)
    build(ctx, "feed:section:dunya")
    after = {f: ctx.store.get(f"feeds/sections/dunya.{f}").body for f in ("rss", "atom", "json")}
    assert after == before  # not in items, dates, counts or the ETag derived from the bytes


def test_retracted_article_is_gone_from_every_feed(ctx, write, retract, seed_article):
    write(seed_article)
    targets = [
        "feed:all",
        "feed:section:dunya",
        "feed:tag:nato",
        "feed:author:dis-haberler-servisi",
    ]
    for target in targets:
        build(ctx, target)
    assert titles(ctx, "feeds/tags/nato.rss") == [seed_article["title"]]
    retract(seed_article["id"])
    for target in targets:
        build(ctx, target)
    for path in ("feeds/all.rss", "feeds/sections/dunya.rss", "feeds/tags/nato.rss"):
        assert titles(ctx, path) == []


def test_older_build_never_overwrites_newer_artifact(ctx, write, seed_article):
    write(seed_article)
    newer = [encode("feeds/all.rss", b"<rss>newer</rss>", 5)]
    assert ctx.store.publish("feed:all", newer, "99999999999999-0")
    assert build(ctx, "feed:all") == "superseded"
    assert ctx.store.get("feeds/all.rss").body == b"<rss>newer</rss>"


def test_build_without_a_new_event_is_skipped(ctx, write, seed_article):
    write(seed_article)
    assert build(ctx, "feed:all") == "published"
    assert build_target("feed:all", ctx) == "skipped"


def test_a_build_records_itself_as_the_newest_of_its_kind(ctx, write, seed_article):
    write(seed_article)
    before, started = time.time(), time.perf_counter()
    assert build(ctx, "feed:section:dunya") == "published"
    took = time.perf_counter() - started
    last = last_builds.read(ctx.redis, ["feed", "card"])
    newest = last["feed"]
    assert newest is not None and newest.target == "feed:section:dunya"
    assert newest.outcome == "published" and before <= newest.at <= time.time()
    # The build's own time, within the test's clock around it: a record of it, not a speed.
    assert 0 < newest.seconds <= took
    assert last["card"] is None  # none built yet
    assert build_target("feed:section:dunya", ctx) == "skipped"  # nothing owed: not shown
    assert last_builds.read(ctx.redis, ["feed"])["feed"] == newest


def test_a_feed_build_reads_with_its_begin_and_claims_with_its_finish(ctx, settings, write):
    """Four round trips for a feed build with a subscriber: its begin with the feed's read,
    the new article's document, the read again before publishing, and its finish with the
    last-build record and the WebSub claim; the delivery is queued after."""
    client, sent = counted_client(settings.redis_url)
    subscriptions = Subscriptions(client, settings)
    topic = topic_url(settings, "feeds/tags/sayac.rss")
    subscriptions.add(topic, "https://abone.example/websub", 3600, None)
    queued: list[tuple[str, ...]] = []
    counted = replace(
        ctx,
        redis=client,
        reader=ArticleReader(client),
        coordinator=Coordinator(client, settings),
        after_publish=[
            publish_hook(settings, subscriptions, lambda name, args, queue: queued.append(args))
        ],
    )
    article = {**load_corpus()[0], "tags": ["Sayaç"]}
    for n in (1, 2):  # the first build makes the feed (and loads the scripts)
        write({**article, "id": f"sayac-{n}"})
        counted.coordinator.mark([("feed:tag:sayac", f"{counted.reader.now_ms()}-{n}")])
        sent.clear()
        queued.clear()
        assert build_target("feed:tag:sayac", counted) == "published"
    read = counted.reader.feed_read("feed:tag:sayac", settings.feed_size, 0).script.sha.encode()
    claim = subscriptions.claim({topic: ""}).script.sha.encode()
    assert len(sent) == 4
    assert b"begin" in sent[0] and read in sent[0]
    assert b"finish" in sent[-1] and claim in sent[-1]
    etag = counted.store.get("feeds/tags/sayac.rss").etag
    assert queued == [[topic, "https://abone.example/websub", etag]]


def test_the_build_log_gives_the_bench_how_long_it_was_owed_queued_and_took(
    ctx, write, seed_article, caplog, tmp_path
):
    write(seed_article)
    caplog.set_level(logging.INFO, logger="services.render.pipeline.builds")
    ctx.coordinator.mark([("feed:tag:nato", f"{ctx.reader.now_ms()}-1")])
    time.sleep(0.05)  # its task waits for a worker
    assert build_target("feed:tag:nato", ctx) == "published"
    log = tmp_path / "worker.log"
    log.write_text(caplog.text)
    [built] = builds_logged(log)
    assert built.kind == "feed:tag"
    assert built.queued_ms is not None and built.owed_ms is not None
    assert 50 <= built.queued_ms <= built.owed_ms
    assert built.took_ms > 0


def test_a_card_build_reads_its_article_with_its_begin(ctx, settings, write, seed_article):
    """Three round trips: its begin with the article's read, the read again before
    publishing, its finish."""
    client, sent = counted_client(settings.redis_url)
    reader = ArticleReader(client)
    counted = replace(ctx, redis=client, reader=reader, coordinator=Coordinator(client, settings))
    write({**seed_article, "image": None})
    target = f"card:{seed_article['id']}"
    for n in (1, 2):  # the first build loads the scripts
        counted.coordinator.mark([(target, f"{reader.now_ms()}-{n}")])
        sent.clear()
        assert build_target(target, counted) == "published"
    read = reader.article_read(seed_article["id"]).script.sha.encode()
    assert len(sent) == 3
    assert b"begin" in sent[0] and read in sent[0]
    assert read in sent[1] and b"finish" in sent[2]
