"""The sitemap kind, built from real Redis state and checked against the published XSDs."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.state.sweeper import Sweeper
from tests.render.building import build
from tests.sitemap_schemas import validate

NS = {
    "s": "http://www.sitemaps.org/schemas/sitemap/0.9",
    "image": "http://www.google.com/schemas/sitemap-image/1.1",
    "news": "http://www.google.com/schemas/sitemap-news/0.9",
}
TITLE = "Rusya'dan flaş çıkış: Şansımız var"
SITE = "https://haber.example.com.tr/dunya/"


def locs(ctx, path: str) -> list[str]:
    artifact = ctx.store.get(path)
    return validate(artifact.body).xpath("//s:loc/text()", namespaces=NS) if artifact else []


def story(seed: dict, n: int, published: datetime, **changes) -> dict:
    return {
        **seed,
        "id": f"sm-{n}",
        "url": f"{SITE}haber-{n}",
        "published_at": published.isoformat(),
        "updated_at": None,
        **changes,
    }


def last_event_targets(db) -> set[str]:
    return set(json.loads(db.xrevrange("nw:events", count=1)[0][1]["targets"]))


def test_month_partition_lists_its_articles_with_lastmod_and_image(ctx, write, seed_article):
    image = {"url": "https://haber.example.com.tr/img/lavrov.jpg?w=1200&h=630", "alt": "Lavrov"}
    write({**seed_article, "image": image})
    write(story(seed_article, 2, datetime(2026, 2, 1, 9, 0, tzinfo=UTC)))
    assert build(ctx, "sitemap:2026-01") == "published"
    root = validate(ctx.store.get("sitemaps/2026-01.xml").body)
    [url] = root.xpath("//s:url", namespaces=NS)
    assert url.findtext("s:loc", namespaces=NS) == seed_article["url"]
    assert url.findtext("s:lastmod", namespaces=NS) == "2026-01-18T11:42:00+03:00"
    assert url.xpath("image:image/image:loc/text()", namespaces=NS) == [image["url"]]
    build(ctx, "sitemap:2026-02")
    assert locs(ctx, "sitemaps/2026-02.xml") == [f"{SITE}haber-2"]


def test_month_is_the_publication_month_in_the_site_time_zone(ctx, write, seed_article):
    # 31 January 22:30 UTC is 1 February 01:30 in Istanbul.
    write(story(seed_article, 1, datetime(2026, 1, 31, 22, 30, tzinfo=UTC)))
    build(ctx, "sitemap:2026-02")
    assert locs(ctx, "sitemaps/2026-02.xml") == [f"{SITE}haber-1"]


def test_moved_to_another_month_it_leaves_the_old_partition(ctx, write, seed_article, db):
    write(story(seed_article, 1, datetime(2026, 1, 10, tzinfo=UTC)))
    write(story(seed_article, 2, datetime(2026, 1, 11, tzinfo=UTC)))
    build(ctx, "sitemap:2026-01")
    assert write(story(seed_article, 1, datetime(2026, 2, 10, tzinfo=UTC))).status == "updated"
    assert {"sitemap:2026-01", "sitemap:2026-02"} <= last_event_targets(db)
    build(ctx, "sitemap:2026-01")
    build(ctx, "sitemap:2026-02")
    assert locs(ctx, "sitemaps/2026-01.xml") == [f"{SITE}haber-2"]
    assert locs(ctx, "sitemaps/2026-02.xml") == [f"{SITE}haber-1"]


def test_an_update_the_sitemap_does_not_show_rebuilds_no_partition(ctx, write, seed_article, db):
    write(seed_article)
    write({**seed_article, "summary": "Yeni özet"})  # same URL, lastmod and image
    assert "sitemap:2026-01" not in last_event_targets(db)
    assert "feed:all" in last_event_targets(db)
    write({**seed_article, "updated_at": "2026-01-18T12:00:00+03:00"})  # a new lastmod
    assert "sitemap:2026-01" in last_event_targets(db)


def test_an_emptied_partition_is_deleted_and_leaves_the_index(ctx, write, retract, seed_article):
    write(seed_article)
    build(ctx, "sitemap:2026-01")
    build(ctx, "sitemap:index")
    assert locs(ctx, "sitemap.xml") == ["http://127.0.0.1:8080/sitemaps/2026-01.xml"]
    retract(seed_article["id"])
    build(ctx, "sitemap:2026-01")
    assert ctx.store.get("sitemaps/2026-01.xml") is None
    assert not ctx.store.gone("sitemaps/2026-01.xml")  # empty, not taken down: a 404
    build(ctx, "sitemap:index")
    assert ctx.store.get("sitemap.xml") is None  # nothing left to list


def test_parts_split_at_the_limit_and_never_move(ctx, write_many, seed_article, settings):
    small = settings.model_copy(update={"sitemap_max_urls": 3})
    base = datetime(2026, 1, 5, tzinfo=UTC)
    write_many([story(seed_article, n, base + timedelta(hours=n)) for n in range(7)], using=small)
    build(ctx, "sitemap:2026-01")
    paths = ["sitemaps/2026-01.xml", "sitemaps/2026-01-2.xml", "sitemaps/2026-01-3.xml"]
    first = {path: locs(ctx, path) for path in paths}
    assert [len(urls) for urls in first.values()] == [3, 3, 1]
    # Published before all of them, it still joins the first part with room: nobody moves.
    write_many([story(seed_article, 99, base - timedelta(days=2))], using=small)
    build(ctx, "sitemap:2026-01")
    second = {path: locs(ctx, path) for path in paths}
    assert second["sitemaps/2026-01.xml"] == first["sitemaps/2026-01.xml"]
    assert second["sitemaps/2026-01-2.xml"] == first["sitemaps/2026-01-2.xml"]
    assert second["sitemaps/2026-01-3.xml"] == [f"{SITE}haber-99", f"{SITE}haber-6"]
    build(ctx, "sitemap:index")
    assert locs(ctx, "sitemap.xml") == [f"http://127.0.0.1:8080/{p}" for p in sorted(paths)]


def test_a_part_splits_by_bytes_too(ctx, write_many, seed_article, settings):
    # Room for about three entries per part (the protocol allows 50 MB; same rule).
    small = settings.model_copy(update={"sitemap_max_bytes": 4096})
    long_url = SITE + "x" * 1000
    base = datetime(2026, 1, 5, tzinfo=UTC)
    articles = [story(seed_article, n, base, url=f"{long_url}{n}") for n in range(7)]
    write_many(articles, using=small)
    build(ctx, "sitemap:2026-01")
    files = ctx.store.paths("sitemaps/")
    assert len(files) >= 2
    for path in files:
        assert len(ctx.store.get(path).body) <= 4096
    assert sum(len(locs(ctx, p)) for p in files) == 7


def test_news_sitemap_holds_the_last_48_hours_newest_first(ctx, write, seed_article):
    now = datetime.now(UTC).replace(microsecond=0)
    write(story(seed_article, 1, now - timedelta(hours=47), title="Dün akşam"))
    write(story(seed_article, 2, now - timedelta(minutes=5), title=TITLE))
    write(story(seed_article, 3, now - timedelta(days=3), title="Üç gün önce"))
    build(ctx, "sitemap:news")
    root = validate(ctx.store.get("sitemaps/news.xml").body)
    assert root.xpath("//news:title/text()", namespaces=NS) == [TITLE, "Dün akşam"]
    assert set(root.xpath("//news:name/text()", namespaces=NS)) == {"Haber"}
    assert set(root.xpath("//news:language/text()", namespaces=NS)) == {"tr"}
    dates = root.xpath("//news:publication_date/text()", namespaces=NS)
    assert dates[0] == (now - timedelta(minutes=5)).isoformat()


def test_news_sitemap_holds_at_most_1000(ctx, write_many, seed_article):
    now = datetime.now(UTC).replace(microsecond=0)
    write_many([story(seed_article, n, now - timedelta(seconds=n + 1)) for n in range(1005)])
    build(ctx, "sitemap:news")
    found = locs(ctx, "sitemaps/news.xml")
    assert found == [f"{SITE}haber-{n}" for n in range(1000)]


def test_empty_news_sitemap_is_still_valid(ctx, settings):
    build(ctx, "sitemap:news")
    assert locs(ctx, "sitemaps/news.xml") == [str(settings.site_url)]


def test_an_article_ages_out_of_the_news_sitemap_through_the_sweeper(
    ctx, write, seed_article, settings, db
):
    leaves = datetime.now(UTC) + timedelta(seconds=1.5)
    write(story(seed_article, 1, leaves - timedelta(hours=48), title=TITLE))
    build(ctx, "sitemap:news")
    assert locs(ctx, "sitemaps/news.xml") == [f"{SITE}haber-1"]
    wake = db.zscore("nw:sweep", "target:sitemap:news")
    assert wake == int(leaves.timestamp() * 1000) + 1
    sweeper = Sweeper(ctx.redis, settings)
    assert sweeper.sweep().due == 0  # not before its time
    time.sleep(max(0.0, wake / 1000 - time.time()) + 0.05)
    assert sweeper.sweep().due == 1
    due = db.xrevrange("nw:events", count=1)[0][1]
    assert (due["type"], json.loads(due["targets"])) == ("targets.due", ["sitemap:news"])
    assert sweeper.sweep().due == 0  # once
    build(ctx, "sitemap:news")
    assert locs(ctx, "sitemaps/news.xml") == [str(settings.site_url)]
    assert db.zcard("nw:idx:sitemap:news") == 0  # aged entries are dropped from the index


def test_embargoed_article_is_in_no_sitemap_until_its_time(ctx, write, seed_article):
    future = datetime.now(UTC) + timedelta(hours=1)
    write(story(seed_article, 1, future))
    month = f"sitemap:{future.astimezone(ZoneInfo('Europe/Istanbul')):%Y-%m}"
    for target in (month, "sitemap:news"):
        build(ctx, target)
    assert ctx.store.paths("sitemaps/") == ["sitemaps/news.xml"]
    assert locs(ctx, "sitemaps/news.xml") == ["https://haber.example.com.tr/"]


def test_index_lists_every_partition_with_its_lastmod(ctx, write, seed_article):
    write(seed_article)
    write(story(seed_article, 2, datetime(2025, 12, 31, 12, tzinfo=UTC)))
    for target in ("sitemap:2026-01", "sitemap:2025-12", "sitemap:news", "sitemap:index"):
        build(ctx, target)
    root = validate(ctx.store.get("sitemap.xml").body)
    listed = root.xpath("//s:sitemap/s:loc/text()", namespaces=NS)
    assert listed == [
        "http://127.0.0.1:8080/sitemaps/2025-12.xml",
        "http://127.0.0.1:8080/sitemaps/2026-01.xml",
        "http://127.0.0.1:8080/sitemaps/news.xml",
    ]
    for lastmod in root.xpath("//s:lastmod/text()", namespaces=NS):
        assert abs(datetime.fromisoformat(lastmod).timestamp() - time.time()) < 60


def test_a_partition_build_asks_for_the_index_after_it(ctx, write, seed_article, enqueued):
    write(seed_article)
    build(ctx, "sitemap:2026-01")
    assert enqueued == ["sitemap:index"]


def test_the_index_asks_for_the_site_page_only_when_its_files_change(ctx, write, seed_article, db):
    write(seed_article)
    for target in ("sitemap:2026-01", "sitemap:news"):
        build(ctx, target)

    def index_follow_ups() -> set[str]:
        before = db.xlen("nw:events")
        build(ctx, "sitemap:index")
        return last_event_targets(db) if db.xlen("nw:events") > before else set()

    assert index_follow_ups() == {"feed:index"}  # the first index
    write({**seed_article, "title": "Güncellendi", "updated_at": "2026-01-18T12:00:00+03:00"})
    build(ctx, "sitemap:2026-01")
    assert index_follow_ups() == set()  # a lastmod changed; the page shows no dates
    write(story(seed_article, 2, datetime(2025, 12, 31, 12, tzinfo=UTC)))
    build(ctx, "sitemap:2025-12")
    assert index_follow_ups() == {"feed:index"}  # a new partition file


def test_hostile_urls_stay_valid_xml(ctx, write, seed_article):
    hostile = SITE + "a?b=1&c=<script>&d='\"&e=%00"
    write({**seed_article, "url": hostile, "title": '<b>&amp; "tırnak"</b>'})
    build(ctx, "sitemap:2026-01")
    stored = ctx.reader.article(seed_article["id"]).article
    assert locs(ctx, "sitemaps/2026-01.xml") == [str(stored.url)]
