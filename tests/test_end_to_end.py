"""End to end: services as processes, articles pushed over HTTP, feeds read over HTTP."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import feedparser
import pytest
import redis

from devstack.stack import Stack
from services.render.pipeline.coordinator import Coordinator
from shared.settings import Settings
from tests.conftest import DATA, load_corpus, own_copy, wait_until

# On the stack these modules share (`site_stack`): tests/module_groups.py runs them on one worker.
pytestmark = pytest.mark.processes

SEED = json.loads((DATA / "corpus" / "seed-article.json").read_text())
TITLE = "Rusya'dan flaş çıkış: Şansımız var"


@pytest.fixture(scope="module")
def stack(site_stack: Stack) -> Stack:
    return site_stack


DEADLINE_S = 30  # for what the pipeline does in a fraction of a second: fails only if never


def titles(stack, path: str) -> list[str]:
    response = stack.feed(path)
    if response.status_code != 200:
        return []
    if path.endswith(".json"):
        return [item["title"] for item in response.json()["items"]]
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.bozo_exception
    return [entry.title for entry in parsed.entries]


def links(stack, path: str) -> list[str]:
    response = stack.feed(path)
    if response.status_code != 200:
        return []
    if path.endswith(".json"):
        return [item["url"] for item in response.json()["items"]]
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.bozo_exception
    return [entry.link for entry in parsed.entries]


def test_pushed_corpus_is_served_in_every_format(stack):
    corpus = load_corpus()
    for article in corpus:
        assert stack.put(article).status_code in (200, 201)
    started = time.monotonic()
    # Found by URL: tests sharing the stack may have copies of the seed's headline.
    for fmt in ("rss", "atom", "json"):
        path = f"feeds/sections/dunya.{fmt}"
        wait_until(lambda p=path: SEED["url"] in links(stack, p), DEADLINE_S)
    print(f"\ncorpus visible in dunya.rss/.atom/.json after {time.monotonic() - started:.3f}s")

    rss = feedparser.parse(stack.feed("feeds/sections/dunya.rss").content)
    entry = next(e for e in rss.entries if e.link == SEED["url"])
    assert entry.title == TITLE
    assert entry.published.endswith("+0300")
    atom = feedparser.parse(stack.feed("feeds/sections/dunya.atom").content)
    entry = next(e for e in atom.entries if e.link == SEED["url"])
    assert (entry.title, entry.published) == (TITLE, SEED["published_at"])
    items = stack.feed("feeds/sections/dunya.json").json()["items"]
    item = next(i for i in items if i["url"] == SEED["url"])
    assert (item["title"], item["date_published"]) == (TITLE, SEED["published_at"])

    expected = json.loads((DATA / "corpus" / "expected-slugs.json").read_text())
    for kind in ("sections", "tags"):
        for name, slug in expected[kind].items():
            wait_until(lambda p=f"feeds/{kind}/{slug}.rss": stack.feed(p).ok, DEADLINE_S)
            parsed = feedparser.parse(stack.feed(f"feeds/{kind}/{slug}.rss").content)
            assert parsed.feed.title.endswith(f" — {name}"), (kind, parsed.feed.title)
            assert parsed.entries
            for entry in parsed.entries:  # each item is filed under that section or tag
                assert name in {tag.term for tag in entry.tags}, (kind, name, entry.title)
    wait_until(lambda: "/feeds/sections/dunya.rss" in stack.feed("").text, DEADLINE_S)


def test_same_put_twice_is_unchanged_without_event(stack):
    db = redis.Redis.from_url(stack.env["NEWSWIRE_REDIS_URL"])
    stack.put(SEED)
    [(last, _)] = db.xrevrange("nw:events", count=1)
    response = stack.put(SEED)
    assert response.json()["status"] == "unchanged"
    # Builds may append their own follow-up events meanwhile; the article has none.
    after = db.xrange("nw:events", min=b"(" + last)
    assert [f for _, f in after if f.get(b"id") == SEED["id"].encode()] == []


def test_served_feeds_are_cacheable(stack):
    wait_until(lambda: stack.feed("feeds/all.rss").ok, DEADLINE_S)
    first = stack.feed("feeds/all.rss", **{"Accept-Encoding": "identity"})
    assert first.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert first.headers["cache-control"].startswith("public, max-age=")
    again = stack.feed("feeds/all.rss", **{"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    # No brotli variant by default: a client accepting both gets gzip, one accepting only
    # brotli gets the plain body.
    compressed = stack.feed("feeds/all.rss", **{"Accept-Encoding": "br, gzip"})
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.content == first.content  # requests decodes gzip
    plain = stack.feed("feeds/all.rss", **{"Accept-Encoding": "br"})
    assert "content-encoding" not in plain.headers
    assert plain.content == first.content
    assert stack.feed("feeds/sections/no-such-section.rss").status_code == 404


def test_embargoed_article_appears_at_its_time_and_not_before(stack):
    release = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    embargoed = {
        **SEED,
        "id": "dunya-embargo-e2e",
        "title": "Ambargo kalkınca görünür",
        "url": "https://haber.example.com.tr/dunya/ambargo",
        "published_at": release.isoformat(),
        "updated_at": release.isoformat(),
    }
    assert stack.put(embargoed).status_code == 201
    while datetime.now(UTC) < release - timedelta(milliseconds=300):
        assert "Ambargo kalkınca görünür" not in titles(stack, "feeds/sections/dunya.rss")
        time.sleep(0.1)
    wait_until(lambda: "Ambargo kalkınca görünür" in titles(stack, "feeds/all.json"), DEADLINE_S)
    seen_at = datetime.now(UTC)
    assert seen_at >= release
    print(f"\nembargo released {(seen_at - release).total_seconds():.3f}s after its time")


def test_retraction_removes_it_from_every_format(stack):
    # A copy of the seed of its own, so the sample corpus's stays for the tests sharing the
    # stack; the same section, tags and author.
    doomed = own_copy(SEED, "geri", title=True)
    stack.put(doomed)
    for fmt in ("rss", "atom", "json"):
        path = f"feeds/sections/dunya.{fmt}"
        wait_until(lambda p=path: doomed["title"] in titles(stack, p), DEADLINE_S)
    assert stack.delete(doomed["id"]).json()["status"] == "retracted"
    for fmt in ("rss", "atom", "json"):
        for feed in ("sections/dunya", "all", "tags/nato", "authors/dis-haberler-servisi"):
            path = f"feeds/{feed}.{fmt}"
            wait_until(lambda p=path: doomed["title"] not in titles(stack, p), DEADLINE_S)


def test_burst_on_one_section_costs_a_handful_of_builds(stack):
    settings = Settings(redis_url=stack.env["NEWSWIRE_REDIS_URL"])
    db = redis.Redis.from_url(settings.redis_url)
    coordinator = Coordinator(db, settings)
    target = "feed:section:patlama"
    articles, rounds = 10, 50
    base = datetime(2026, 1, 18, 12, 0, tzinfo=UTC)

    def update(k: int, i: int) -> dict:
        return {
            **SEED,
            "id": f"patlama-{k}",
            "url": f"https://haber.example.com.tr/patlama/{k}",
            "title": f"Güncelleme {k}-{i}",
            "section": "Patlama",
            "tags": [],
            "published_at": base.isoformat(),
            "updated_at": (base + timedelta(seconds=i)).isoformat(),
        }

    [(last_before, _)] = db.xrevrange("nw:events", count=1) or [(b"0-0", None)]
    started = time.monotonic()
    # 500 updates in 50 requests, each round updating every article of the section once.
    for i in range(rounds):
        batch = {"articles": [update(k, i) for k in range(articles)]}
        response = stack.http.post(f"{stack.ingest_url}/v1/articles:batch", json=batch)
        statuses = {r["status"] for r in response.json()["results"]}
        assert statuses <= {"created", "updated"}, statuses
    elapsed = time.monotonic() - started
    # One event per update (builds may append their own `targets.rebuild` follow-ups).
    written = [f[b"type"] for _, f in db.xrange("nw:events", min=b"(" + last_before)]
    assert sum(t.startswith(b"article.") for t in written) == articles * rounds
    final = {f"Güncelleme {k}-{rounds - 1}" for k in range(articles)}
    wait_until(lambda: set(titles(stack, "feeds/sections/patlama.rss")) == final, DEADLINE_S)
    stack.wait_idle()  # a trailing build counts too
    idle = time.monotonic() - started
    builds = coordinator.builds(target)
    # A build never starts within a window of the last one's end, and each window in a row
    # is twice the last, up to the longest: however long the burst took on this machine, at
    # most the first build, one per window, and a trailing one.
    first, longest = (
        int(stack.env.get(f"NEWSWIRE_{name.upper()}", getattr(settings, name)))
        for name in ("debounce_window_ms", "debounce_window_max_ms")
    )
    most = 2 + windows_within(idle * 1000, first, max(first, longest))
    print(
        f"\n{articles * rounds} updates in {elapsed:.2f}s, idle after {idle:.2f}s -> "
        f"{builds} builds of {target} (at most {most})"
    )
    assert builds <= most
    state = db.hgetall(f"nw:target:{target}")
    assert state[b"want"] == state[b"done"]  # nothing left dirty


def windows_within(ms: float, first: int, longest: int) -> int:
    """How many hot windows in a row fit in `ms`: `first`, then each twice the last, up to
    `longest`."""
    count, window, spent = 0, first, first
    while spent <= ms:
        count += 1
        window = min(longest, window * 2)
        spent += window
    return count
