"""Embargoes: nothing of an article exists anywhere before its publish time, and it appears
after it, released once, even when every worker's clock runs an hour ahead.

One stack runs 1,000 trials (each an embargoed article, checked in feeds, sitemaps and its
card) in rounds: a round writes its articles with publish times staggered a little ahead,
snapshots every output (bytes and headers) before the writes and again just before the first
release, and requires the two to be byte-identical, so no item, date, count, ETag,
Last-Modified, feed or card gives the embargo away. (A round whose snapshot could not be
taken before its release proves nothing that way, and the rounds after it get more time.)
Then it watches each article arrive, and no output may have been written with it before its
time. How soon after its time it appears is printed, not asserted. The
dispatcher (whose sweeper releases embargoes) and every worker run with their clocks an hour
ahead: if anything trusted the local clock instead of Redis's, every article would show early.
A WebSub subscriber of the site-wide feed checks that no push carries an article early.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
import requests

from devstack.stack import Stack
from shared.language.slugs import slugify
from tests.conftest import wait_until
from tests.guarantees.conftest import (
    AUTHORS,
    SECTIONS,
    SITE,
    TAGS,
    article,
    differences,
    feed_paths,
    from_ms,
    now_ms,
    redis_of,
    snapshot,
    start_stack,
    wait_settled,
)

pytestmark = pytest.mark.processes

ROUNDS, PER_ROUND = 40, 25  # 1,000 trials
LEAD_MS = 600  # from a round's writes to its first release: room to write, settle, snapshot
# Every REBUILD_EVERY-th round also rebuilds every target while its articles wait, as
# `newswire rebuild` would: a build of a feed made only for them must not publish it either.
REBUILD_EVERY, REBUILD_LEAD_MS = 8, 1500
# A round whose snapshot ended after its release doubles the lead of the rounds after it, up
# to this many times; at least half the rounds must snapshot in time.
MAX_LEAD_SCALE = 8
STAGGER_MS = 2  # between the releases of one round
# How long after a round's last release its articles may take to appear everywhere before
# the test fails (it takes about a second): only an article that never appears fails it.
WATCH_DEADLINE_MS = 30_000
PUSH_DEADLINE_S = 30  # for the site feed's last content to be pushed (it takes a second)
SETTLE_DEADLINE_S = 60  # for every build to finish (a rebuild round's take a few seconds)
CLOCK_AHEAD_S = 3600
ZONE = "Europe/Istanbul"


class _Subscriber(BaseHTTPRequestHandler):
    server: Subscriber

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # verification of intent: echo the challenge
        challenge = re.search(r"hub\.challenge=([^&]+)", self.path)
        self._answer(200, challenge[1].encode() if challenge else b"")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.record(body)
        self._answer(204, b"")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Subscriber(ThreadingHTTPServer):
    """A WebSub subscriber on 127.0.0.2; records each push with Redis's time of receipt."""

    daemon_threads = True

    def __init__(self, db: redis.Redis) -> None:
        super().__init__(("127.0.0.2", 0), _Subscriber)
        self.db = db
        self.pushes: list[tuple[int, bytes]] = []
        self._lock = threading.Lock()

    @property
    def callback(self) -> str:
        return f"http://127.0.0.2:{self.server_address[1]}/abone"

    def record(self, body: bytes) -> None:
        received = now_ms(self.db)
        with self._lock:
            self.pushes.append((received, body))


def test_a_thousand_embargoes_never_show_early_and_release_once(
    tmp_path: Path, redis_url: str, rng
) -> None:
    stack = start_stack(
        tmp_path,
        redis_url,
        clock_ahead_s=CLOCK_AHEAD_S,
        NEWSWIRE_FETCH_ALLOW_NETWORKS='["127.0.0.2/32"]',
        NEWSWIRE_DEBOUNCE_WINDOW_MS="50",
        # Feeds of 30 items build in a fraction of the time of 50; a round's 25 all fit.
        NEWSWIRE_FEED_SIZE="30",
        extra_workers=3,
        extra_card_workers=2,
    )
    subscriber = None
    try:
        _check_clocks_ahead(stack)
        db = redis_of(stack)
        subscriber = Subscriber(redis_of(stack))
        threading.Thread(target=subscriber.serve_forever, daemon=True).start()
        http = requests.Session()
        _seed_site(stack, db, subscriber)
        started = time.monotonic()
        releases: dict[str, int] = {}
        first: list[int] = []
        everywhere: list[int] = []
        scale, proven = 1, 0
        for number in range(ROUNDS):
            round_releases, in_time, round_first, round_everywhere = _round(
                stack, db, http, rng, number, scale
            )
            releases.update(round_releases)
            first += round_first
            everywhere += round_everywhere
            proven += in_time
            scale = scale if in_time else min(2 * scale, MAX_LEAD_SCALE)
        elapsed = time.monotonic() - started
        print(
            f"\n{len(releases)} embargoed articles in {elapsed:.1f}s, clocks {CLOCK_AHEAD_S}s "
            f"ahead; release → first output {_figures(first)}; → everywhere "
            f"{_figures(everywhere)}; {proven} of {ROUNDS} rounds snapshotted before release"
        )
        assert len(releases) == ROUNDS * PER_ROUND
        assert proven >= ROUNDS // 2, f"only {proven} rounds snapshotted before their release"
        _check_released_once(db, releases)
        _check_pushes(stack, db, subscriber, releases)
    finally:
        if subscriber is not None:
            subscriber.shutdown()
        stack.stop()


def _check_clocks_ahead(stack: Stack) -> None:
    """Each shifted process really reads a clock an hour ahead of this one."""
    for name in ("dispatcher", "worker", "card-worker", "push-worker"):
        line = wait_until(
            lambda n=name: re.search(r"time\.time\(\) reads ([\d.]+)", stack.processes.log(n)), 10
        )
        ahead = float(line[1]) - time.time()
        assert CLOCK_AHEAD_S - 60 < ahead < CLOCK_AHEAD_S + 1, (name, ahead)


def _seed_site(stack: Stack, db: redis.Redis, subscriber: Subscriber) -> None:
    """Visible articles in every section, tag and author, and a subscriber of the site feed."""
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    for number, section in enumerate(SECTIONS):
        raw = article(
            f"gorunur-{number}",
            an_hour_ago + timedelta(minutes=number),
            title=f"Görünür haber {number}",
            section=section,
            tags=TAGS,
            authors=AUTHORS,
        )
        assert stack.put(raw).status_code == 201
    topic = f"{stack.feeds_url}/feeds/all.atom"
    wait_settled(db, SETTLE_DEADLINE_S)
    fields = {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": subscriber.callback}
    assert requests.post(f"{stack.feeds_url}/websub", data=fields, timeout=5).status_code == 202
    wait_until(lambda: db.zcard(f"nw:websub:leases:{topic}"), 10)
    wait_settled(db, SETTLE_DEADLINE_S)


def _round(
    stack: Stack, db: redis.Redis, http: requests.Session, rng, number: int, scale: int
) -> tuple[dict[str, int], bool, list[int], list[int]]:
    """One round of PER_ROUND trials, with `scale` times the usual lead; returns each
    article's release time, whether the snapshot before release was taken in time (and
    matched), and each article's latencies to its first output and to all of them."""
    fresh_tag = f"Ambargo {number}"  # a tag no visible article has: its feed must not appear
    slugs = {
        "sections": [slugify(s) for s in SECTIONS],
        "tags": [slugify(t) for t in (*TAGS, fresh_tag)],
        "authors": [slugify(a) for a in AUTHORS],
    }
    ids = [f"ambargo-{number}-{k}" for k in range(PER_ROUND)]
    cards = [f"cards/{ident}.{ext}" for ident in ids for ext in ("jpg", "html")]
    month = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).strftime("%Y-%m")
    sitemaps = ["sitemap.xml", "sitemaps/news.xml", f"sitemaps/{month}.xml"]
    paths = [*feed_paths(slugs), *sitemaps, "index.html", *cards]

    wait_settled(db, SETTLE_DEADLINE_S)
    before = snapshot(stack.feeds_url, paths)
    rebuild = number % REBUILD_EVERY == REBUILD_EVERY - 1
    first = now_ms(db) + (REBUILD_LEAD_MS if rebuild else LEAD_MS) * scale
    releases = {ident: first + k * STAGGER_MS for k, ident in enumerate(ids)}
    raws = []
    for ident in ids:
        tags = rng.sample(TAGS, rng.randint(0, 2)) + ([fresh_tag] if rng.random() < 0.2 else [])
        raws.append(
            article(
                ident,
                from_ms(releases[ident]),
                title=f"Ambargolu haber {ident} {rng.randrange(10**6)}",
                section=rng.choice(SECTIONS),
                tags=tuple(tags),
                authors=tuple(rng.sample(AUTHORS, rng.randint(0, 1))),
            )
        )
    response = stack.http.post(f"{stack.ingest_url}/v1/articles:batch", json={"articles": raws})
    assert {r["status"] for r in response.json()["results"]} == {"created"}, response.text
    if rebuild:  # every feed and sitemap, and this round's cards (earlier ones are settled)
        targets = [t.decode() for t in db.smembers("nw:targets")]
        targets = [t for t in targets if not t.startswith("card:")] + [f"card:{i}" for i in ids]
        fields = {"type": "targets.rebuild", "id": "", "rev": 0, "targets": json.dumps(targets)}
        db.xadd("nw:events", fields)
    wait_settled(db, SETTLE_DEADLINE_S)
    pre = snapshot(stack.feeds_url, paths)
    taken = now_ms(db)
    in_time = taken < first
    if in_time:
        assert differences(before, pre) == [], f"round {number}: embargoed articles showed early"
    else:  # some may be out by now: this snapshot proves nothing either way
        print(f"round {number}: snapshot ended {taken - first} ms after the first release")
    return releases, in_time, *_watch(stack, db, http, raws, releases, sitemaps)


def _watch(
    stack: Stack,
    db: redis.Redis,
    http: requests.Session,
    raws: list[dict[str, Any]],
    releases: dict[str, int],
    sitemaps: list[str],
) -> tuple[list[int], list[int]]:
    """Poll until every article is in each of its outputs; none may be there before its time.

    Returns each article's latencies: when the first and the last of its outputs were written
    with it (the file's modification time, on the machine's clock that Redis reads too) minus
    its time.
    Polling only finds the files; their times say when the system wrote them.
    """
    owed: dict[str, set[str]] = {}
    for raw in raws:
        docs = {"feeds/all.json", f"feeds/sections/{slugify(raw['section'])}.json", *sitemaps[1:]}
        docs |= {f"feeds/tags/{slugify(tag)}.json" for tag in raw["tags"]}
        docs |= {f"feeds/authors/{slugify(a['name'])}.json" for a in raw["authors"]}
        owed[raw["id"]] = docs | {f"cards/{raw['id']}.html"}
    urls = {raw["id"]: raw["url"] for raw in raws}
    artifacts = Path(stack.env["NEWSWIRE_ARTIFACT_DIR"])
    written: dict[str, dict[str, int]] = {ident: {} for ident in owed}  # doc → written at, ms
    deadline = max(releases.values()) + WATCH_DEADLINE_MS
    while any(len(written[ident]) < len(docs) for ident, docs in owed.items()):
        began = now_ms(db)
        if began > deadline:
            missing = {
                i: sorted(d - set(written[i])) for i, d in owed.items() if d - written[i].keys()
            }
            pytest.fail(f"never appeared ({WATCH_DEADLINE_MS} ms after the release): {missing}")
        wanted = {doc for ident, docs in owed.items() for doc in docs - set(written[ident])}
        wanted = {d for d in wanted if not d.startswith("cards/") or _near(d, releases, began)}
        fetched = {doc: http.get(f"{stack.feeds_url}/{doc}", timeout=5) for doc in wanted}
        for ident, docs in owed.items():
            for doc in docs & fetched.keys():
                if doc not in written[ident] and _shows(fetched[doc], urls[ident]):
                    at = (artifacts / doc).stat().st_mtime_ns // 1_000_000
                    # Written with the article before its time: released early.
                    assert at >= releases[ident], (ident, doc, releases[ident] - at)
                    written[ident][doc] = at
        time.sleep(0.05)
    first = [min(at.values()) - releases[i] for i, at in written.items()]
    everywhere = [max(at.values()) - releases[i] for i, at in written.items()]
    return first, everywhere


def _figures(ms: list[int]) -> str:
    ms = sorted(ms)
    return f"median {ms[len(ms) // 2]} ms, p99 {ms[len(ms) * 99 // 100]} ms, max {ms[-1]} ms"


def _near(card: str, releases: dict[str, int], now: int) -> bool:
    """Whether a card's article is released, or about to be (an early card would show then)."""
    return releases[card.removeprefix("cards/").removesuffix(".html")] <= now + 200


def _shows(response: requests.Response, url: str) -> bool:
    return response.status_code == 200 and _mentions(response.content, url)


def _mentions(body: bytes, url: str) -> bool:
    """`url` whole in an attribute, JSON string or element (not as a prefix of another)."""
    return f'{url}"'.encode() in body or f"{url}<".encode() in body


def _check_released_once(db: redis.Redis, releases: dict[str, int]) -> None:
    """Per article, one write event that names no target (nothing changes yet) and one release
    event naming its targets, never appended before its time."""
    events: dict[str, list[tuple[int, list[str]]]] = {}
    for event_id, fields in db.xrange("nw:events"):
        ident = fields[b"id"].decode()
        if ident in releases and fields[b"type"] == b"article.published":
            at = int(event_id.split(b"-")[0])
            events.setdefault(ident, []).append((at, json.loads(fields[b"targets"])))
    assert Counter(len(found) for found in events.values()) == {2: len(releases)}
    assert all(not found[0][1] and found[1][1] for found in events.values())
    lags = {i: found[1][0] - releases[i] for i, found in events.items()}
    early = {i: lag for i, lag in lags.items() if lag < 0}
    assert not early, f"released before their time (ms): {early}"
    print(f"release events after the publish time: {_figures(list(lags.values()))}")


def _check_pushes(
    stack: Stack, db: redis.Redis, subscriber: Subscriber, releases: dict[str, int]
) -> None:
    """No push carries an article before its time; every content change is pushed once."""
    wait_settled(db, SETTLE_DEADLINE_S)
    final = requests.get(f"{stack.feeds_url}/feeds/all.atom", timeout=5).content
    # Deliveries run on the push worker after the builds: wait for the last one.
    try:
        wait_until(lambda: any(body == final for _, body in subscriber.pushes), PUSH_DEADLINE_S)
    except pytest.fail.Exception:
        pytest.fail(f"the site feed as it ended was never pushed ({PUSH_DEADLINE_S} s)")
    pushes = list(subscriber.pushes)
    assert pushes, "the subscriber got nothing"
    for received, body in pushes:
        for ident, release in releases.items():
            if release > received:
                assert not _mentions(body, f"{SITE}/{ident}"), (ident, release - received)
    bodies = Counter(body for _, body in pushes)
    assert max(bodies.values()) == 1, "the same content was pushed twice"
    assert pushes[-1][1] == final or final in bodies
