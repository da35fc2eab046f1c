"""Sitemaps end to end: articles pushed over HTTP, sitemaps read over HTTP and validated."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis
from lxml import etree

from devstack.stack import Stack
from tests.conftest import DATA, own_copy, wait_until
from tests.sitemap_schemas import validate

# On the stack these modules share (`site_stack`): tests/module_groups.py runs them on one worker.
pytestmark = pytest.mark.processes

# The seed article under an id, URL and title of this module's: the stack is shared, and
# the news sitemap is read whole.
SEED = own_copy(
    json.loads((DATA / "corpus" / "seed-article.json").read_text()), "harita", title=True
)
TITLE = SEED["title"]
ISTANBUL = ZoneInfo("Europe/Istanbul")
# For what the pipeline does in a fraction of a second: fails only if it never happens.
DEADLINE_S = 30
NS = {
    "s": "http://www.sitemaps.org/schemas/sitemap/0.9",
    "news": "http://www.google.com/schemas/sitemap-news/0.9",
}


@pytest.fixture(scope="module")
def stack(site_stack: Stack) -> Stack:
    return site_stack


def sitemap(stack, path: str) -> etree._Element | None:
    response = stack.feed(path)
    return validate(response.content) if response.status_code == 200 else None


def locs(stack, path: str) -> list[str]:
    root = sitemap(stack, path)
    return [] if root is None else root.xpath("//s:loc/text()", namespaces=NS)


def news_titles(stack) -> list[str]:
    root = sitemap(stack, "sitemaps/news.xml")
    return [] if root is None else root.xpath("//news:title/text()", namespaces=NS)


def recent(published: datetime, **changes) -> dict:
    moment = published.replace(microsecond=0).isoformat()
    return {**SEED, "published_at": moment, "updated_at": moment, **changes}


def test_the_seed_article_is_in_its_month_and_the_index(stack):
    assert stack.put(SEED).status_code in (200, 201)
    wait_until(lambda: SEED["url"] in locs(stack, "sitemaps/2026-01.xml"), DEADLINE_S)
    listed = f"{stack.feeds_url}/sitemaps/2026-01.xml"
    wait_until(lambda: listed in locs(stack, "sitemap.xml"), DEADLINE_S)
    robots = stack.feed("robots.txt")
    assert robots.headers["content-type"] == "text/plain; charset=utf-8"
    assert f"Sitemap: {stack.feeds_url}/sitemap.xml" in robots.text.splitlines()


def test_sitemaps_are_served_cacheable_and_compressed(stack):
    stack.put(SEED)
    wait_until(lambda: stack.feed("sitemaps/2026-01.xml").ok, DEADLINE_S)
    first = stack.feed("sitemaps/2026-01.xml", **{"Accept-Encoding": "identity"})
    assert first.headers["content-type"] == "application/xml; charset=utf-8"
    assert (
        stack.feed("sitemaps/2026-01.xml", **{"If-None-Match": first.headers["etag"]}).status_code
        == 304
    )
    gz = stack.feed("sitemaps/2026-01.xml", **{"Accept-Encoding": "gzip"})
    assert gz.headers["content-encoding"] == "gzip"
    assert gz.content == first.content


def test_moved_within_48_hours_it_is_in_the_news_sitemap(stack):
    stack.put(recent(datetime.now(UTC) - timedelta(hours=1)))
    wait_until(lambda: TITLE in news_titles(stack), DEADLINE_S)


def test_an_article_leaves_the_news_sitemap_on_time_with_no_further_event(stack):
    db = redis.Redis.from_url(stack.env["NEWSWIRE_REDIS_URL"])
    leaves = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    ageing = recent(leaves - timedelta(hours=48), id="ageing", url=SEED["url"] + "-yaslanan")
    ageing["title"] = "Yaşlanan haber"
    old = recent(datetime.now(UTC) - timedelta(days=3), id="old", url=SEED["url"] + "-eski")
    old["title"] = "Üç günlük haber"
    assert stack.put(ageing).status_code == 201
    assert stack.put(old).status_code == 201
    # In before its 3 s are up, so that "never early" below has something to watch.
    wait_until(lambda: "Yaşlanan haber" in news_titles(stack), 2)
    assert "Üç günlük haber" not in news_titles(stack)
    last = db.xrevrange("nw:events", count=1)[0][0].decode()
    while datetime.now(UTC) < leaves - timedelta(milliseconds=300):
        assert "Yaşlanan haber" in news_titles(stack)  # never early
        time.sleep(0.1)
    wait_until(lambda: "Yaşlanan haber" not in news_titles(stack), DEADLINE_S)
    print(f"\nleft the news sitemap {(datetime.now(UTC) - leaves).total_seconds():.3f}s after")
    since = [fields[b"type"] for _, fields in db.xrange("nw:events", min=f"({last}")]
    # The sweeper's wakeup and the follow-ups its build asked for, and no article event.
    assert [kind for kind in since if kind != b"targets.rebuild"] == [b"targets.due"]


def test_a_retraction_leaves_both_sitemaps(stack):
    article = recent(datetime.now(UTC) - timedelta(hours=2), id="geri-cekilen")
    article["url"] = SEED["url"] + "-geri"
    article["title"] = "Geri çekilen haber"
    stack.put(article)
    month = f"sitemaps/{datetime.now(ISTANBUL):%Y-%m}.xml"
    wait_until(lambda: article["url"] in locs(stack, month), DEADLINE_S)
    wait_until(lambda: "Geri çekilen haber" in news_titles(stack), DEADLINE_S)
    assert stack.delete(article["id"]).json()["status"] == "retracted"
    started = time.monotonic()
    wait_until(lambda: article["url"] not in locs(stack, month), DEADLINE_S)
    wait_until(lambda: "Geri çekilen haber" not in news_titles(stack), DEADLINE_S)
    print(f"\nretraction left both sitemaps in {time.monotonic() - started:.3f}s")


def test_moved_from_january_to_february_it_leaves_january(stack):
    moved = {**SEED, "id": "tasinan", "url": SEED["url"] + "-tasinan"}
    stack.put(moved)
    wait_until(lambda: moved["url"] in locs(stack, "sitemaps/2026-01.xml"), DEADLINE_S)
    february = "2026-02-02T10:00:00+03:00"
    assert stack.put({**moved, "published_at": february, "updated_at": february}).ok
    wait_until(lambda: moved["url"] in locs(stack, "sitemaps/2026-02.xml"), DEADLINE_S)
    wait_until(lambda: moved["url"] not in locs(stack, "sitemaps/2026-01.xml"), DEADLINE_S)
