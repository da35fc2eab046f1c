"""Workers killed with SIGKILL mid-build 3 times, at seeded random points, under a steady
stream of new and updated articles: every event reaches its outputs; every served file is
whole and never older than one served before; the final outputs equal, byte for byte, a
`newswire rebuild --local` of the same Redis state into an empty artifact store."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import re
import statistics
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import brotli
import feedparser
import pytest
import redis
import requests
from lxml import etree

from tests.conftest import Stack, make_stack, wait_until
from tests.faults.conftest import newswire, process_of, start_worker, worker_ready

pytestmark = pytest.mark.processes

SEED = int(os.environ.get("NEWSWIRE_TEST_SEED", random.randrange(1 << 30)))
# Each kill is one more sample of a build lost at a random point, and costs a worker's
# restart; the next one waits until the victim is ready again (never the last one is killed).
KILLS = 3
RATE = 5  # articles written per second
WRITES = 40  # at least; the writes go on until the kills are done
WORKERS = ["worker", "worker-2"]
SECTIONS = {"Dünya": "dunya", "Gündem": "gundem", "Ekonomi": "ekonomi", "Spor": "spor"}
TAGS = ["Rusya", "NATO", "Seçim"]
# A write a minute from 23:30 in the site's time zone (+03:00): the stream crosses into June
# at the 30th write, so there are two monthly sitemaps.
BASE = datetime(2025, 5, 31, 20, 30, tzinfo=UTC)
SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
# A build lost with its worker is taken over once its 3 s lease runs out, and the stack
# settles seconds after the writes stop: wait many times that, to fail only if they never do.
RECOVERY_DEADLINE_S = 60
SETTLE_DEADLINE_S = 120
POLL_PAUSE_S = 0.4  # between the poller's rounds of reads


@pytest.fixture
def load_stack(tmp_path: Path, redis_url: str) -> Iterator[Stack]:
    # Compact: "worker" takes every queue (cards too), worker-2 all but cards and WebSub.
    stack = make_stack(tmp_path, redis_url)
    for name in WORKERS[1:]:
        start_worker(stack, name)
    for name in WORKERS[1:]:
        wait_until(lambda n=name: worker_ready(stack, n), timeout=30, interval=0.1)
    yield stack
    stack.stop()


class Writer(threading.Thread):
    """Writes articles at a steady rate: mostly new ones, some updates of earlier ones.
    Every write's `updated_at` is later than every earlier one's."""

    def __init__(self, stack: Stack, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.stack, self.rng = stack, rng
        self.stop = threading.Event()
        self.writes = 0
        self.articles: dict[str, dict] = {}  # id → as last written
        self.failures: list[str] = []

    def run(self) -> None:
        seq = 0
        started = time.monotonic()
        while not self.stop.is_set():
            seq += 1
            article = self._next(seq)
            response = self.stack.put(article)
            if response.status_code not in (200, 201):
                self.failures.append(f"{article['id']}: {response.status_code} {response.text}")
            else:
                self.articles[article["id"]] = article
            self.writes = seq
            self.stop.wait(max(0.0, started + seq / RATE - time.monotonic()))

    def _next(self, seq: int) -> dict:
        when = (BASE + timedelta(minutes=seq)).isoformat()
        if self.articles and self.rng.random() < 0.2:
            earlier = self.articles[self.rng.choice(sorted(self.articles))]
            return {
                **earlier,
                "title": f"{earlier['title']} (güncellendi {seq})",
                "updated_at": when,
            }
        section = self.rng.choice(sorted(SECTIONS))
        return {
            "id": f"akis-{seq}",
            "url": f"https://haber.example.com.tr/{SECTIONS[section]}/akis-{seq}",
            "title": f"Akış haberi {seq}: Şansımız var",
            "summary": "Kremlin Sözcüsü Peskov açıklama yaptı.",
            "section": section,
            "tags": [self.rng.choice(TAGS)],
            "authors": [{"name": "Dış Haberler Servisi"}],
            "published_at": when,
            "updated_at": when,
        }


def _freshness(path: str, body: bytes) -> tuple:
    """What must never go backwards for `path`; raises ValueError if `body` is not whole."""
    if path.endswith(".json"):
        items = json.loads(body)["items"]
        return (max((item["date_modified"] for item in items), default=""),)
    if path.endswith((".rss", ".atom")):
        # Well-formedness and dates are what is looked at: no HTML sanitizing of entries.
        parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
        if parsed.bozo:
            raise ValueError(f"not well-formed: {parsed.bozo_exception}")
        return (tuple(parsed.feed.updated_parsed),)
    try:
        root = etree.fromstring(body)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed: {exc}") from None
    return (len(root),)  # sitemaps only grow here: nothing is retracted


class Poller(threading.Thread):
    """Reads outputs over HTTP the whole time, recording any that is not whole, and any that
    is older than one served before (freshness going back, or an earlier ETag coming back)."""

    def __init__(self, stack: Stack, paths: list[str]) -> None:
        super().__init__(daemon=True)
        self.stack, self.paths = stack, paths
        self.stop = threading.Event()
        self.reads = 0
        self.problems: list[str] = []
        self.seen: dict[str, list[str]] = {path: [] for path in paths}
        self.fresh: dict[str, tuple] = {}
        # Freshness by the digest of the exact bytes read: the same bytes parse the same, so
        # each distinct body is parsed once, however often it is served.
        self.parsed: dict[tuple[str, bytes], tuple | ValueError] = {}

    def run(self) -> None:
        session = requests.Session()  # kept alive: a read costs a request, not a connection
        while not self.stop.is_set():
            for path in self.paths:
                response = session.get(f"{self.stack.feeds_url}/{path}", timeout=10)
                if response.status_code == 200:
                    self.reads += 1
                    self._check(path, response.content, response.headers["etag"])
            self.stop.wait(POLL_PAUSE_S)
        session.close()

    def _check(self, path: str, body: bytes, etag: str) -> None:
        digest = (path, hashlib.sha256(body).digest())
        if digest not in self.parsed:
            try:
                self.parsed[digest] = _freshness(path, body)
            except ValueError as exc:
                self.parsed[digest] = exc
        fresh = self.parsed[digest]
        if isinstance(fresh, ValueError):
            self.problems.append(f"{path}: partial or broken: {fresh}")
            return
        if fresh < self.fresh.get(path, fresh):
            self.problems.append(f"{path}: older than served before: {fresh} < {self.fresh[path]}")
        self.fresh[path] = max(fresh, self.fresh.get(path, fresh))
        etags = self.seen[path]
        if not etags or etags[-1] != etag:
            if etag in etags:
                self.problems.append(f"{path}: an earlier version came back ({etag})")
            etags.append(etag)


class Killer:
    """Kills a worker (never the last one ready) in the middle of a build, and watches for
    the build it held to be finished by another (timing it, for the record)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.db = redis.Redis.from_url(stack.env["NEWSWIRE_REDIS_URL"], decode_responses=True)
        self.recoveries: list[float] = []
        self.by_target: list[tuple[float, str]] = []
        self.watchers: list[threading.Thread] = []
        # Targets whose recovery is being timed are not aimed at again until it is done, so
        # each figure is one kill's recovery, not a chain of them.
        self.recovering: set[str] = set()
        # Workers seen ready since their last start: a log is read only until it says so.
        self.ready = set(WORKERS)

    def kill_mid_build(self) -> None:
        found = wait_until(
            self._building, timeout=RECOVERY_DEADLINE_S, interval=0.005, backoff=False
        )
        target, victim, builds = found
        self.stack.processes.kill(victim)
        killed = time.monotonic()
        self.ready.discard(victim)
        self.recovering.add(target)
        start_worker(self.stack, victim)  # back in a few seconds; the others carry on
        watcher = threading.Thread(target=self._time_recovery, args=(target, builds, killed))
        watcher.start()
        self.watchers.append(watcher)

    def _building(self) -> tuple[str, str, int] | None:
        self.ready |= {n for n in WORKERS if n not in self.ready and worker_ready(self.stack, n)}
        if len(self.ready) < 2:
            return None
        keys = list(self.db.scan_iter("nw:target:*", count=1000))
        pipe = self.db.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        for key, state in zip(keys, pipe.execute(), strict=True):
            target = key.removeprefix("nw:target:")
            if state.get("state") != "building" or target in self.recovering:
                continue
            victim = process_of(self.stack, int(state["holder"].rpartition(":")[2]))
            if victim in self.ready:
                return target, victim, int(state.get("builds", 0))
        return None

    def _time_recovery(self, target: str, builds: int, killed: float) -> None:
        key = f"nw:target:{target}"
        deadline = killed + RECOVERY_DEADLINE_S
        while time.monotonic() < deadline:
            if int(self.db.hget(key, "builds") or 0) > builds:
                self.recoveries.append(time.monotonic() - killed)
                self.by_target.append((self.recoveries[-1], target))
                self.recovering.discard(target)
                return
            time.sleep(0.05)


def unsettled(db: redis.Redis) -> dict[str, dict]:
    """Targets still owed a build or in the middle of one."""
    states = {key: db.hgetall(key) for key in db.scan_iter("nw:target:*", count=1000)}
    return {
        key.decode(): state
        for key, state in states.items()
        if state.get(b"state") not in (b"idle", b"cooling")
        or state.get(b"want") != state.get(b"done")
    }


def served_files(root: Path) -> dict[str, bytes]:
    """Every served file under a filesystem store, by path. The sitemap index's `lastmod`s
    are when each partition was written (by design, so crawlers refetch what changed), so
    they are left out of the comparison with a store written at another time."""
    files = {}
    for path in root.rglob("*"):
        name = str(path.relative_to(root))
        if not path.is_file() or name.startswith("."):
            continue
        body = path.read_bytes()
        if name.startswith("sitemap.xml"):
            plain = {".gz": gzip.decompress, ".br": brotli.decompress}.get(path.suffix)
            body = re.sub(rb"<lastmod>[^<]*</lastmod>", b"", plain(body) if plain else body)
        files[name] = body
    return files


def test_killed_workers_lose_nothing_and_the_outputs_equal_a_rebuild(
    load_stack: Stack, tmp_path: Path
):
    print(f"\nseed {SEED} (replay: NEWSWIRE_TEST_SEED={SEED})")
    rng = random.Random(SEED)
    stack, db = load_stack, redis.Redis.from_url(load_stack.env["NEWSWIRE_REDIS_URL"])
    recent = {  # one article inside the news sitemap's window, with a card
        "id": "son-dakika",
        "url": "https://haber.example.com.tr/yasam/son-dakika",
        "title": "Son dakika: İstanbul'da kar",
        "section": "Yaşam",
        "published_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    }
    assert stack.put(recent).status_code == 201
    paths = [f"feeds/sections/{slug}.rss" for slug in SECTIONS.values()]
    paths += ["feeds/sections/dunya.json", "feeds/all.atom", "feeds/tags/rusya.rss"]
    paths += ["sitemap.xml", "sitemaps/2025-05.xml", "sitemaps/2025-06.xml"]
    writer, poller = Writer(stack, random.Random(rng.random())), Poller(stack, paths)
    writer.start()
    poller.start()
    killer = Killer(stack)
    started = time.monotonic()
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.1, 0.6))
        killer.kill_mid_build()
    wait_until(lambda: writer.writes >= WRITES, timeout=SETTLE_DEADLINE_S, interval=0.1)
    writer.stop.set()
    writer.join(timeout=60)  # its last PUT is answered
    written = time.monotonic() - started
    for watcher in killer.watchers:
        watcher.join()  # each gives up at its deadline
    try:
        wait_until(lambda: not unsettled(db), timeout=SETTLE_DEADLINE_S, interval=0.5)
    finally:
        print("unsettled:", unsettled(db), "due:", db.zrange("nw:due", 0, -1, withscores=True))
    poller.stop.set()
    poller.join(timeout=10)

    builds = int(db.get("nw:builds") or 0)
    print(
        f"{writer.writes} writes of {len(writer.articles)} articles, {KILLS} kills in "
        f"{written:.1f} s; {builds} builds; kill -9 → held target published: median "
        f"{statistics.median(killer.recoveries):.2f} s, max {max(killer.recoveries):.2f} s; "
        f"{poller.reads} reads, {len(poller.parsed)} distinct bodies"
    )
    slowest = ", ".join(f"{target} {took:.1f} s" for took, target in sorted(killer.by_target)[-3:])
    print(f"slowest recoveries: {slowest}")
    assert writer.failures == []
    lost = KILLS - len(killer.recoveries)
    assert not lost, f"{lost} builds held by a killed worker never finished by another"
    # The poller watched the outputs the whole time: it read every one, and saw them change.
    assert poller.problems == []
    assert all(poller.seen.values()), [path for path, etags in poller.seen.items() if not etags]
    assert any(len(etags) > 1 for etags in poller.seen.values()), poller.seen

    # Every event reached its outputs: each section shows its newest 50, as last written.
    articles = list(writer.articles.values())
    for section, slug in SECTIONS.items():
        mine = [a for a in articles if a["section"] == section]
        newest = sorted(mine, key=lambda a: a["published_at"], reverse=True)[:50]
        shown = feedparser.parse(stack.feed(f"feeds/sections/{slug}.rss").content)
        assert [e.title for e in shown.entries] == [a["title"] for a in newest]
    in_sitemaps = set()
    for month in ("2025-05", "2025-06"):
        root = etree.fromstring(stack.feed(f"sitemaps/{month}.xml").content)
        in_sitemaps |= {loc.text for loc in root.iter(f"{SITEMAP_NS}loc")}
    assert in_sitemaps == {a["url"] for a in articles}

    # The outputs equal a rebuild of the same state into an empty store.
    for name in ("dispatcher", *WORKERS):
        stack.processes.kill(name)
    reference = tmp_path / "reference"
    rebuilt = newswire(stack, "rebuild", "--local", NEWSWIRE_ARTIFACT_DIR=str(reference))
    assert rebuilt.returncode == 0, rebuilt.stderr
    live = served_files(Path(stack.env["NEWSWIRE_ARTIFACT_DIR"]))
    expected = served_files(reference)
    assert sorted(live) == sorted(expected)
    differing = [path for path in expected if live[path] != expected[path]]
    assert differing == []
