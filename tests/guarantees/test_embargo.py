"""Embargoes: nothing of an article exists anywhere before its publish time, and it appears
after it, released once, even when every worker's clock runs an hour ahead.

One stack runs 1,000 trials (each an embargoed article, checked in its feeds: site, section,
tags and author; the month and news sitemaps; and its card) in rounds of a hundred. A round
writes its articles with publish times staggered a little ahead, snapshots every output before
the writes and again just before the first release, and requires the two to be identical, so
no item, date, count, ETag, Last-Modified, feed or card gives the embargo away: the feeds,
sitemaps and index as the feeds service serves them (status, headers and bytes), the round's
cards as the store the service answers from reads them. A round whose snapshot ends after its
release proves nothing that way, and the next round gets more time; at least half the rounds
must be in time. One round in eight also rebuilds every feed and sitemap, and some of its
cards, while its articles wait. Then the test watches each article arrive in the artifact
files, and no file may have been written with it before its time; the snapshot after the
round shows it served in its feeds and sitemaps. How soon after its time it appears is
printed, not asserted. Each article is released by one event, never before its time. The
dispatcher (whose sweeper releases embargoes) and every worker run with their clocks an hour
ahead: if anything trusted the local clock instead of Redis's, every article would show
early. A WebSub subscriber of the site-wide feed checks that no push carries an article
early, and that the feed as it ended is pushed.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import pytest
import redis
import requests

from devstack.stack import Stack
from shared.language.slugs import slugify
from shared.store.artifacts import Artifact
from shared.store.filesystem import FilesystemStore
from tests.conftest import wait_until
from tests.guarantees.conftest import (
    AUTHORS,
    SECTIONS,
    SITE,
    TAGS,
    Served,
    article,
    differences,
    feed_paths,
    from_ms,
    now_ms,
    redis_of,
    settled,
    start_stack,
)

pytestmark = pytest.mark.processes

# Few large rounds: each shared feed is built once or twice a round however large the round
# is, and snapshotted twice, so the cost per trial falls as rounds grow.
ROUNDS, PER_ROUND = 10, 100  # 1,000 trials
# From a round's writes to its first release, at least: room to write, settle and snapshot.
# A round gets twice what the last one of its kind took (see `_lead`), so a slow round (the
# machine is shared) gives the next more time; at least half must snapshot in time.
LEAD_MS = 600
# Every REBUILD_EVERY-th round also rebuilds every feed and sitemap, and the cards of its first
# REBUILD_CARDS articles, while its articles wait, as `newswire rebuild` would: a build of a
# feed made only for them must not publish it either, nor a card build its card.
REBUILD_EVERY, REBUILD_CARDS, REBUILD_LEAD_MS = 8, 25, 2000
MAX_LEAD_MS = 15_000
# Between the releases of one round: they span two or three sweeps (one each 50 ms), so builds
# run while some of the round's articles are out and the rest must stay hidden.
STAGGER_MS = 1
# A target built within this window of its last build waits for its end: the releases of a
# round coalesce into a build or two of each shared feed.
DEBOUNCE_WINDOW_MS = 250
# How long after a round's last release its articles may take to appear everywhere before
# the test fails (it takes a few seconds): only an article that never appears fails it.
WATCH_DEADLINE_MS = 30_000
# Between looks at the files still owed something: builds of one target come at least a
# debounce window apart, so looking this often should find each version a build writes.
WATCH_POLL_S = 0.1
PUSH_DEADLINE_S = 30  # for the site feed's last content to be pushed (it takes a second)
SETTLE_DEADLINE_S = 60  # for every build to finish (a rebuild round's take a few seconds)
CLOCK_AHEAD_S = 3600
ZONE = "Europe/Istanbul"
# What a snapshot compares of each response (as tests.guarantees.conftest.fetch does).
HEADERS = ("content-type", "content-length", "etag", "last-modified", "cache-control")
# An article URL and what follows it up to a quote or `<`: the id of an article named whole
# in an attribute, JSON string or element.
PREFIX = f"{SITE}/".encode()
MENTION = re.compile(re.escape(PREFIX) + rb'([^"<]*)["<]')


@dataclass(frozen=True)
class Round:
    """What one round found."""

    rebuild: bool  # its feeds, sitemaps and some cards were rebuilt while its articles waited
    releases: dict[str, int]  # article → its publish time (Redis ms)
    in_time: bool  # the snapshot before release was taken in time (and matched)
    spent_ms: int  # from the writes to the end of that snapshot
    owed: dict[str, set[str]]  # article → the documents it must be in
    first: list[int]  # per article, ms from its time to its first output written
    everywhere: list[int]  # and to its last


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
    # One worker for every queue: how work spreads over processes is not looked at here.
    stack = start_stack(
        tmp_path,
        redis_url,
        clock_ahead_s=CLOCK_AHEAD_S,
        NEWSWIRE_FETCH_ALLOW_NETWORKS='["127.0.0.2/32"]',
        NEWSWIRE_DEBOUNCE_WINDOW_MS=str(DEBOUNCE_WINDOW_MS),
        # A round's articles all fit in a feed, so each is in every feed it belongs to
        # whenever that feed's first build after its release runs.
        NEWSWIRE_FEED_SIZE=str(PER_ROUND),
    )
    subscriber = None
    try:
        _check_clocks_ahead(stack)
        db = redis_of(stack)
        subscriber = Subscriber(redis_of(stack))
        threading.Thread(target=subscriber.serve_forever, daemon=True).start()
        _seed_site(stack, db, subscriber)
        started = time.monotonic()
        rounds: list[Round] = []
        previous: dict[str, set[str]] = {}
        for number in range(ROUNDS):
            rebuild = number % REBUILD_EVERY == REBUILD_EVERY - 1
            lead_ms = _lead(rebuild, rounds)
            rounds.append(_round(stack, db, rng, number, rebuild, lead_ms, previous))
            previous = rounds[-1].owed
        _wait_settled(db)  # the last round's articles, served
        _check_served(_snapshot(stack.feeds_url, sorted(set().union(*previous.values()))), previous)
        releases = {ident: at for done in rounds for ident, at in done.releases.items()}
        proven = sum(done.in_time for done in rounds)
        print(
            f"\n{len(releases)} embargoed articles in {time.monotonic() - started:.1f}s, clocks "
            f"{CLOCK_AHEAD_S}s ahead; release → first output "
            f"{_figures([ms for done in rounds for ms in done.first])}; → everywhere "
            f"{_figures([ms for done in rounds for ms in done.everywhere])}; {proven} of "
            f"{ROUNDS} rounds snapshotted before release"
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
    shifted = set(stack.processes.running) - {"ingest", "feeds"}
    assert {"dispatcher", "worker"} <= shifted, shifted
    for name in shifted:
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
    _wait_settled(db)
    fields = {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": subscriber.callback}
    assert requests.post(f"{stack.feeds_url}/websub", data=fields, timeout=5).status_code == 202
    wait_until(lambda: db.zcard(f"nw:websub:leases:{topic}"), 10)
    _wait_settled(db)


def _lead(rebuild: bool, rounds: list[Round]) -> int:
    """How long after its writes begin a round's first release comes: twice what the last
    round of its kind took to write, settle and snapshot. The first rebuild round's rebuild
    makes about half as many builds as a release: it also gets half as long as the last
    round's slowest article took to appear everywhere."""
    same = [done.spent_ms for done in rounds if done.rebuild == rebuild]
    if same:
        lead = 2 * same[-1]
    elif rebuild and rounds:
        lead = 2 * rounds[-1].spent_ms + max(rounds[-1].everywhere) // 2
    else:
        lead = 0
    return min(max(lead, REBUILD_LEAD_MS if rebuild else LEAD_MS), MAX_LEAD_MS)


def _round(
    stack: Stack,
    db: redis.Redis,
    rng,
    number: int,
    rebuild: bool,
    lead_ms: int,
    previous: dict[str, set[str]],
) -> Round:
    """One round of PER_ROUND trials, its first release `lead_ms` after its writes begin.
    Its first snapshot also shows the `previous` round's articles served in their feeds and
    sitemaps."""
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
    paths = [*feed_paths(slugs), *sitemaps, "index.html"]
    artifacts = stack.env["NEWSWIRE_ARTIFACT_DIR"]
    store = FilesystemStore(Path(artifacts))  # reads the disk at each call, as the service does

    _wait_settled(db)
    before, before_cards = _snapshot(stack.feeds_url, paths), _stored(store, cards)
    _check_served(before, previous)
    writing = now_ms(db)
    first = writing + lead_ms
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
    if rebuild:  # every feed and sitemap, and cards of this round (earlier ones are settled)
        targets = [t.decode() for t in db.smembers("nw:targets")]
        targets = [t for t in targets if not t.startswith("card:")]
        targets += [f"card:{ident}" for ident in ids[:REBUILD_CARDS]]
        fields = {"type": "targets.rebuild", "id": "", "rev": 0, "targets": json.dumps(targets)}
        db.xadd("nw:events", fields)
    _wait_settled(db)
    pre, pre_cards = _snapshot(stack.feeds_url, paths), _stored(store, cards)
    taken = now_ms(db)
    in_time = taken < first
    if in_time:
        changed = differences(before, pre)
        changed += [f"{card}: stored" for card in cards if before_cards[card] != pre_cards[card]]
        assert changed == [], f"round {number}: embargoed articles showed early: {changed}"
    else:  # some may be out by now: this snapshot proves nothing either way
        print(f"round {number}: snapshot ended {taken - first} ms after the first release")
    owed = _owed(raws, sitemaps)
    first_out, everywhere = _watch(artifacts, owed, releases, db)
    return Round(rebuild, releases, in_time, taken - writing, owed, first_out, everywhere)


def _wait_settled(db: redis.Redis) -> None:
    wait_until(lambda: settled(db), SETTLE_DEADLINE_S, 0.025)


def _snapshot(base: str, paths: list[str]) -> dict[str, Served]:
    """Status, headers and bytes of every path as the feeds service serves it now, fetched one
    after another on one keep-alive connection (a fraction of `requests`' CPU per request)."""
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
    found = {}
    try:
        for path in paths:
            connection.request("GET", f"/{quote(path)}", headers={"Accept-Encoding": "identity"})
            response = connection.getresponse()
            body = response.read()
            headers = tuple((name, response.getheader(name, "")) for name in HEADERS)
            found[path] = Served(response.status, headers, body)
    finally:
        connection.close()
    return found


def _stored(store: FilesystemStore, paths: list[str]) -> dict[str, tuple[Artifact | None, bool]]:
    """What the feeds service makes its answer for each path of: the artifact its store reads
    (bytes, compressed variants, modification time), or none, and whether it is marked gone.

    For the cards of a round's articles, which must not exist yet, this proves what fetching
    them would (404, 410, or a file with its ETag and Last-Modified all follow from it) without
    two hundred requests a snapshot.
    """
    return {path: (store.get(path), store.gone(path)) for path in paths}


def _check_served(served: dict[str, Served], owed: dict[str, set[str]]) -> None:
    """Each article shows in each of its documents that `served` holds."""
    mentioned: dict[str, set[str]] = {}
    for ident, docs in owed.items():
        for doc in docs & served.keys():
            if doc not in mentioned:
                mentioned[doc] = _mentioned(served[doc].body)
            assert served[doc].status == 200 and ident in mentioned[doc], (ident, doc)


def _owed(raws: list[dict[str, Any]], sitemaps: list[str]) -> dict[str, set[str]]:
    """Per article, the documents it must appear in: the JSON of each of its feeds, the news
    and month sitemaps, and its card's page."""
    owed = {}
    for raw in raws:
        docs = {"feeds/all.json", f"feeds/sections/{slugify(raw['section'])}.json", *sitemaps[1:]}
        docs |= {f"feeds/tags/{slugify(tag)}.json" for tag in raw["tags"]}
        docs |= {f"feeds/authors/{slugify(a['name'])}.json" for a in raw["authors"]}
        owed[raw["id"]] = docs | {f"cards/{raw['id']}.html"}
    return owed


def _watch(
    artifacts: str, owed: dict[str, set[str]], releases: dict[str, int], db: redis.Redis
) -> tuple[list[int], list[int]]:
    """Look at the artifact files until every article is in each of its documents; none may
    have been written with it before its time.

    Returns each article's latencies: when the first and the last of its documents were
    written with it (the file's modification time, on the machine's clock that Redis reads
    too) minus its time. Each version of a file is read once, with the modification time of
    the very file read: looking only finds the versions, their times say when the system
    wrote them.
    """
    waiting: dict[str, set[str]] = {}  # document → the articles not yet found in it
    for ident, docs in owed.items():
        for doc in docs:
            waiting.setdefault(doc, set()).add(ident)
    written: dict[str, dict[str, int]] = {ident: {} for ident in owed}  # doc → written at, ms
    read: dict[str, tuple[int, int, int]] = {}  # document → the version last read
    left_ms = max(releases.values()) + WATCH_DEADLINE_MS - now_ms(db)
    deadline = time.monotonic() + left_ms / 1000
    while waiting:
        if time.monotonic() > deadline:
            missing = {
                i: sorted(owed[i] - written[i].keys()) for i in set().union(*waiting.values())
            }
            pytest.fail(f"never appeared ({WATCH_DEADLINE_MS} ms after the release): {missing}")
        for doc, idents in list(waiting.items()):
            version = _new_version(f"{artifacts}/{doc}", read.get(doc))
            if version is None:
                continue
            read[doc], at, mentioned = version
            for ident in idents & mentioned:
                # Written with the article before its time: released early.
                assert at >= releases[ident], (ident, doc, releases[ident] - at)
                written[ident][doc] = at
            idents -= mentioned
            if not idents:
                del waiting[doc]
        time.sleep(WATCH_POLL_S)
    first = [min(at.values()) - releases[i] for i, at in written.items()]
    everywhere = [max(at.values()) - releases[i] for i, at in written.items()]
    return first, everywhere


def _new_version(
    file: str, last: tuple[int, int, int] | None
) -> tuple[tuple[int, int, int], int, set[str]] | None:
    """A version of `file` other than `last` (files are replaced whole, by a rename): its
    signature, modification time (ms) and the articles it names; None if there is none."""
    try:
        if _signature(os.stat(file)) == last:
            return None
        with open(file, "rb") as handle:
            status = os.fstat(handle.fileno())
            body = handle.read()
    except FileNotFoundError:
        return None
    return _signature(status), status.st_mtime_ns // 1_000_000, _mentioned(body)


def _signature(status: os.stat_result) -> tuple[int, int, int]:
    return status.st_mtime_ns, status.st_size, status.st_ino


def _mentioned(body: bytes) -> set[str]:
    """The ids of the articles whose URL `body` holds whole (followed by a quote or `<`)."""
    # A match that ran over the start of another URL names that one (the first has no id).
    return {found.rpartition(PREFIX)[2].decode(errors="replace") for found in MENTION.findall(body)}


def _figures(ms: list[int]) -> str:
    ms = sorted(ms)
    return f"median {ms[len(ms) // 2]} ms, p99 {ms[len(ms) * 99 // 100]} ms, max {ms[-1]} ms"


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
    _wait_settled(db)
    final = requests.get(f"{stack.feeds_url}/feeds/all.atom", timeout=5).content
    # Deliveries run on the worker after the builds: wait for the last one.
    try:
        wait_until(lambda: any(body == final for _, body in subscriber.pushes), PUSH_DEADLINE_S)
    except pytest.fail.Exception:
        pytest.fail(f"the site feed as it ended was never pushed ({PUSH_DEADLINE_S} s)")
    pushes = list(subscriber.pushes)
    assert pushes, "the subscriber got nothing"
    for received, body in pushes:
        early = {i: releases[i] - received for i in _mentioned(body) & releases.keys()}
        early = {i: lead for i, lead in early.items() if lead > 0}
        assert not early, f"pushed before their time (ms): {early}"
    bodies = Counter(body for _, body in pushes)
    assert max(bodies.values()) == 1, "the same content was pushed twice"
    assert pushes[-1][1] == final or final in bodies
