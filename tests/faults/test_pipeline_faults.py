"""Faults of the build pipeline, on one stack of real processes (Redis, ingest, dispatcher,
workers, feeds) that also builds the test-only `fault:` kind:

- failed builds are retried with backoff, parked as dead letters while other targets build,
  and re-driven; a fault in the code is parked at once; an unreadable article is left out
  of its feeds instead of freezing them;
- dispatchers killed mid-batch, and two at once: pending entries are claimed and processed,
  nothing is acknowledged before its builds are queued, and no build is doubled;
- workers killed with SIGKILL mid-build: the build a killed worker held is published by
  another worker, a slow but healthy build is never started twice, and a worker killed in
  the middle of building real feeds loses no build and never exposes a partial file.

The tests run in file order. Those of failed builds have the stack's one worker, so a retry
that held a worker up would hold up every build; the dispatchers' come next; then a second
worker starts, for the kills. The operator's command re-drives a parked build as a process of
its own, and is called in this process where what it prints or refuses is what is looked at.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import feedparser
import pytest
import redis
import requests
from lxml import etree

from devstack.services import commands
from services.cli.__main__ import main
from shared.state import redis_keys
from tests.conftest import DATA, Stack, wait_until
from tests.faults.conftest import newswire, owe, process_of, start_worker, worker_ready
from tests.faults.fault_kind import plan_key

pytestmark = pytest.mark.processes

# For what takes a few seconds at most (a build; retries 0.2, 0.5, 1 and 2 s apart; a claim
# after NEWSWIRE_CLAIM_IDLE_MS, 2 s here; a build lost with its worker, taken over once its
# 3 s lease runs out; a process's start): many times that, to fail only if it never comes.
DEADLINE_S = 60
POLL_S = 0.1  # outcomes here take seconds: look ten times a second


def eventually(check: Callable[[], Any], what: str, timeout: float = DEADLINE_S) -> Any:
    """Poll `check` until it is truthy; fail naming `what` if it is not within `timeout`."""
    try:
        return wait_until(check, timeout, interval=POLL_S)
    except pytest.fail.Exception:
        pytest.fail(f"never happened (waited {timeout} s): {what}")


# --- Failed builds -------------------------------------------------------------------------

SEED = {
    "url": "https://haber.example.com.tr/dunya/",
    "summary": "Kremlin Sözcüsü Peskov açıklama yaptı.",
    "section": "Dünya",
    "published_at": "2026-01-18T11:42:00+03:00",
}


@pytest.fixture
def one_worker(fault_stack: Stack) -> Stack:
    """The stack, while its own worker is the only one."""
    assert "worker-2" not in fault_stack.processes.running, "runs before the kills, on one worker"
    return fault_stack


@pytest.fixture
def cli(fault_stack, monkeypatch, capsys) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `newswire <args>` in this process, with the stack's settings: what it prints and
    its exit status, as the command gives them."""
    for name in [name for name in os.environ if name.startswith("NEWSWIRE_")]:
        monkeypatch.delenv(name)
    for name, value in fault_stack.env.items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's refusals
            code = exc.code
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    return run


def test_transient_failures_are_retried_with_backoff_until_the_build_succeeds(
    one_worker, fdb, served
):
    target = "fault:flaky"
    fdb.hset(plan_key(target), mapping={"fail": 3, "error": "transient"})
    started = time.monotonic()
    owe(one_worker, target)
    eventually(lambda: served(target), f"{target} built")
    took = time.monotonic() - started
    assert fdb.hget(plan_key(target), "renders") == "4"  # three failures, then success
    assert took >= 0.2 + 0.5 + 1.0  # after each delay, never at once
    assert fdb.hget(f"nw:target:{target}", "attempts") is None  # the run of failures ended
    assert not fdb.hexists("nw:dead:builds", target)


def test_a_target_that_keeps_failing_is_parked_while_others_build_then_re_driven(
    one_worker, fdb, served, cli
):
    broken = "fault:broken"
    fdb.hset(plan_key(broken), mapping={"fail": 1000, "error": "transient"})
    owe(one_worker, broken)
    others = [f"fault:healthy-{i}" for i in range(8)]
    for other in others:  # owed while the broken target is retried
        owe(one_worker, other)
        time.sleep(0.3)
    # Builds go on meanwhile: some are served before the broken target is parked, and all are.
    eventually(
        lambda: fdb.hexists("nw:dead:builds", broken) or all(served(o) for o in others),
        f"{broken} parked or the others built",
    )
    assert any(served(other) for other in others), "nothing built while it was retried"
    eventually(lambda: all(served(other) for other in others), "the others built")
    letter = json.loads(eventually(lambda: fdb.hget("nw:dead:builds", broken), "parked"))
    assert letter["attempts"] == 5  # the first build and a retry after each of four delays
    assert letter["error"] == "ConnectionError"
    assert "planned failure 5 of fault:broken" in letter["message"]
    assert "fault_kind.py" in letter["traceback"]
    time.sleep(4.0)  # longer than a lease: a parked target is not retried again
    assert fdb.hget(plan_key(broken), "renders") == "5"
    assert fdb.hget(f"nw:target:{broken}", "state") == "idle"
    assert not served(broken)

    listed = cli("dead-letters")
    assert listed.returncode == 0, listed.stderr
    assert broken in listed.stdout and "5 attempts" in listed.stdout
    assert "ConnectionError: planned failure 5" in listed.stdout

    fdb.hset(plan_key(broken), "fail", 0)  # the cause is fixed
    retried = newswire(one_worker, "dead-letters", "retry", broken)  # as an operator would
    assert retried.returncode == 0, retried.stderr
    eventually(lambda: served(broken), f"{broken} built once re-driven")
    assert fdb.hget(plan_key(broken), "renders") == "6"
    eventually(lambda: not fdb.hexists("nw:dead:builds", broken), "its letter gone")
    assert broken not in cli("dead-letters").stdout


def test_a_fault_in_the_code_is_parked_at_once_with_its_reason(one_worker, fdb, cli):
    target = "fault:bug"
    fdb.hset(plan_key(target), mapping={"fail": 1000, "error": "bug"})
    owe(one_worker, target)
    letter = json.loads(eventually(lambda: fdb.hget("nw:dead:builds", target), "parked"))
    assert (letter["error"], letter["attempts"]) == ("RuntimeError", 1)
    time.sleep(1.0)
    assert fdb.hget(plan_key(target), "renders") == "1"  # repeating a bug only repeats it
    assert cli("dead-letters", "retry", "--all").returncode == 0
    eventually(lambda: fdb.hget(plan_key(target), "renders") == "2", "built again")


def test_bad_dead_letter_commands_say_what_to_do(cli):
    both = cli("dead-letters", "retry", "fault:x", "--all")
    assert both.returncode == 2 and "not both" in both.stderr
    unknown = cli("dead-letters", "retry", "nope:x")
    assert unknown.returncode == 2 and "unknown target 'nope:x'" in unknown.stderr
    stray = cli("dead-letters", "fault:x")
    assert stray.returncode == 2 and "retry" in stray.stderr


def section_titles(stack: Stack) -> set[str]:
    response = stack.feed("feeds/sections/dunya.rss")
    if response.status_code == 404:  # not built yet
        return set()
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo
    return {entry.title for entry in parsed.entries}


def test_an_unreadable_article_is_left_out_and_its_feeds_keep_publishing(fault_stack, fdb, cli):
    first = {**SEED, "id": "bozuk-1", "url": SEED["url"] + "bozuk-1", "title": "Bozulacak haber"}
    assert fault_stack.put(first).status_code == 201
    eventually(lambda: "Bozulacak haber" in section_titles(fault_stack), "first article shown")

    # A bad migration rewrites the stored document (and, as it would, its content hash,
    # kept in the article and in the digests builds read).
    key = f"nw:article:{first['id']}"
    fdb.hset(key, mapping={"doc": '{"id": "bozuk-1", "title": ', "hash": "migrated"})
    fdb.hset(redis_keys.DIGESTS, first["id"], "migrated")

    second = {**SEED, "id": "saglam-1", "url": SEED["url"] + "saglam-1", "title": "Sağlam haber"}
    second["published_at"] = "2026-01-18T12:00:00+03:00"
    written = time.monotonic()
    assert fault_stack.put(second).status_code == 201
    eventually(lambda: section_titles(fault_stack) == {"Sağlam haber"}, "the feed built again")
    took = time.monotonic() - written
    print(f"\nsection feed updated without the unreadable article in {took:.2f} s")

    letter = json.loads(fdb.hget("nw:dead:articles", "bozuk-1"))
    assert letter["digest"] == "migrated" and letter["error"] == "ValidationError"
    listed = cli("dead-letters")
    assert "bozuk-1" in listed.stdout and "left out of every output" in listed.stdout
    assert not fdb.hexists("nw:dead:builds", "feed:section:dunya")  # nothing was parked

    # Written again, the article comes back, and its letter goes.
    fixed = {**first, "title": "Düzeltilen haber", "updated_at": "2026-01-18T13:00:00+03:00"}
    assert fault_stack.put(fixed).status_code == 200
    eventually(lambda: "Düzeltilen haber" in section_titles(fault_stack), "it is back")
    assert "bozuk-1" not in cli("dead-letters").stdout


# --- Dispatchers killed --------------------------------------------------------------------

RANDOM_SEED = int(os.environ.get("NEWSWIRE_TEST_SEED", random.randrange(1 << 30)))
# Articles per batch, each touching a tag feed of its own: enough that a dispatcher that read
# the batch is caught holding it before it has queued every build.
BATCH = 80


def batch(tag_prefix: str, rng: random.Random) -> list[dict]:
    """Articles that each have a tag of their own: that tag's feed is touched by one event."""
    sections = ["Dünya", "Gündem", "Ekonomi"]
    return [
        {
            "id": f"{tag_prefix}-{i}",
            "url": f"https://haber.example.com.tr/haber/{tag_prefix}-{i}",
            "title": f"Haber {tag_prefix} {i}: Şansımız var",
            "section": rng.choice(sections),
            "tags": [f"Etiket {tag_prefix} {i}"],
            "authors": [{"name": "Dış Haberler Servisi"}],
            "published_at": f"2025-05-{1 + i % 28:02d}T10:00:00+03:00",
        }
        for i in range(BATCH)
    ]


def own_targets(tag_prefix: str) -> list[str]:
    return [f"feed:tag:etiket-{tag_prefix}-{i}" for i in range(BATCH)]


def post(stack: Stack, articles: list[dict]) -> None:
    response = stack.http.post(f"{stack.ingest_url}/v1/articles:batch", json={"articles": articles})
    assert response.status_code == 200


def builds_of(db: redis.Redis, targets: list[str]) -> list[int]:
    pipe = db.pipeline(transaction=False)
    for target in targets:
        pipe.hget(f"nw:target:{target}", "builds")
    return [int(builds or 0) for builds in pipe.execute()]


def all_built(db: redis.Redis, targets: list[str]) -> bool:
    pipe = db.pipeline(transaction=False)
    for target in targets:
        pipe.hmget(f"nw:target:{target}", "want", "done")
    if any(want is None or want != done for want, done in pipe.execute()):
        return False
    return db.xpending("nw:events", "render")["pending"] == 0


def test_dispatchers_killed_mid_batch_and_running_two_at_once(fault_stack, fdb):
    print(f"\nseed {RANDOM_SEED} (replay: NEWSWIRE_TEST_SEED={RANDOM_SEED})")
    rng = random.Random(RANDOM_SEED)
    stack, db = fault_stack, fdb

    # One dispatcher: the baseline, each target of its own built exactly once.
    started = int(db.get("nw:builds") or 0)
    post(stack, batch("a", rng))
    eventually(lambda: all_built(db, own_targets("a")), "batch a all built")
    baseline = int(db.get("nw:builds")) - started
    assert builds_of(db, own_targets("a")) == [1] * BATCH

    # Two dispatchers; the one that reads the batch is killed before it acknowledges it.
    stack.processes.start("dispatcher-2", commands()["dispatcher"])
    consumers = {
        f"{os.uname().nodename}-{stack.processes.running[name].pid}": name
        for name in ("dispatcher", "dispatcher-2")
    }

    def reading_consumers() -> set[str]:
        return {c["name"] for c in db.xinfo_consumers("nw:events", "render")}

    # The second one is up and reading (a consumer of the group), then a seeded moment more.
    eventually(lambda: set(consumers) <= reading_consumers(), "dispatcher-2 reading")
    time.sleep(rng.uniform(0.0, 1.0))
    before = int(db.get("nw:builds"))
    post(stack, batch("b", rng))

    def reading() -> str | None:
        for consumer in db.xinfo_consumers("nw:events", "render"):
            if consumer["pending"] and consumer["name"] in consumers:
                return consumers[consumer["name"]]
        return None

    victim = wait_until(reading, timeout=10, interval=0.001, backoff=False)
    stack.processes.kill(victim)
    killed = time.monotonic()
    left = [c for c in db.xinfo_consumers("nw:events", "render") if c["pending"]]
    print(f"killed {victim} holding {sum(c['pending'] for c in left)} unacknowledged entries")
    eventually(
        lambda: db.xpending("nw:events", "render")["pending"] == 0,
        f"the entries {victim} held claimed and acknowledged by the other",
    )
    claimed = time.monotonic() - killed
    eventually(lambda: all_built(db, own_targets("b")), "batch b all built")
    settled = time.monotonic() - killed

    counts = builds_of(db, own_targets("b"))
    after = int(db.get("nw:builds")) - before
    print(
        f"entries claimed {claimed:.2f} s after the kill; all built after {settled:.2f} s; "
        f"builds: {baseline} with one dispatcher, {after} with two and a kill; "
        f"own targets built twice: {counts.count(2)}"
    )
    assert min(counts) >= 1  # no event's target left unbuilt
    assert max(counts) <= 2  # built once more at most
    assert after <= 2 * baseline


# --- Workers killed ------------------------------------------------------------------------

WORKERS = ["worker", "worker-2"]
# Each kill costs a worker's restart; the test of real feeds below kills one more.
KILLS = 2


@pytest.fixture(scope="module")
def two_workers(fault_stack: Stack) -> Stack:
    start_worker(fault_stack, "worker-2")
    wait_until(lambda: worker_ready(fault_stack, "worker-2"), DEADLINE_S, interval=POLL_S)
    return fault_stack


def restart(stack: Stack, name: str) -> None:
    """Start a killed worker again, on the queues it had, and wait until it is ready."""
    start_worker(stack, name)
    wait_until(lambda: worker_ready(stack, name), DEADLINE_S, interval=POLL_S)


def test_a_killed_workers_build_is_published_by_another(two_workers, fdb):
    recoveries = []
    for round_ in range(KILLS):
        target = f"fault:killed-{round_}"
        # Long enough that the kill always lands mid-render, however slow the machine.
        fdb.hset(plan_key(target), "sleep", DEADLINE_S / 2)
        owe(two_workers, target)
        pid = int(wait_until(lambda t=target: fdb.hget(plan_key(t), "pid"), timeout=10))
        victim = process_of(two_workers, pid)
        assert victim is not None
        two_workers.processes.kill(victim)  # mid-render: it is asleep
        killed = time.monotonic()
        fdb.hset(plan_key(target), "sleep", 0)  # read by the recovery, once the lease runs out
        served = f"faults/killed-{round_}.txt"
        eventually(
            lambda s=served: two_workers.feed(s).status_code == 200,
            f"{target}'s build, lost with its worker, published by the other",
        )
        recoveries.append(time.monotonic() - killed)
        assert fdb.hget(plan_key(target), "renders") == "2"  # the lost one and the recovery
        restart(two_workers, victim)
    print(
        f"\nkill -9 → published by the other worker: median {statistics.median(recoveries):.2f} s,"
        f" max {max(recoveries):.2f} s over {KILLS} kills"
    )


def test_a_healthy_build_longer_than_the_lease_runs_exactly_once(two_workers, fdb):
    target = "fault:long"
    fdb.hset(plan_key(target), "sleep", 8)  # the lease is 3 s
    owe(two_workers, target)
    eventually(lambda: two_workers.feed("faults/long.txt").status_code == 200, "built", 80)
    time.sleep(3.5)  # a lease more: a second build would have begun by now
    assert fdb.hget(plan_key(target), "renders") == "1"
    assert fdb.hget(f"nw:target:{target}", "builds") == "1"


ARTICLE = json.loads((DATA / "corpus" / "seed-article.json").read_text())
# Sections of this test's own: their feeds show its articles alone.
HEAVY_SECTIONS = {
    "Ağır Dünya": "agir-dunya",
    "Ağır Gündem": "agir-gundem",
    "Ağır Yaşam": "agir-yasam",
    "Ağır Ekonomi": "agir-ekonomi",
    "Ağır Spor": "agir-spor",
    "Ağır Kültür": "agir-kultur",
}


def heavy_articles(count: int, start: int = 0) -> list[dict]:
    # ~40 KB bodies make each build take long enough to be caught in the middle of one.
    body = "".join(f"<p>{ARTICLE['summary']} {i}</p>" for i in range(300))
    sections = list(HEAVY_SECTIONS)
    return [
        {
            **ARTICLE,
            "id": f"agir-{i}",
            "url": f"https://haber.example.com.tr/agir/{i}",
            "title": f"Ağır haber {i}",
            "section": sections[i % len(sections)],
            "tags": [f"etiket {i % 7}", "Rusya"],
            "body_html": body,
        }
        for i in range(start, start + count)
    ]


class Reader(threading.Thread):
    """Reads feeds over HTTP the whole time; records any response that is not whole."""

    def __init__(self, stack: Stack, paths: list[str]) -> None:
        super().__init__(daemon=True)
        self.stack, self.paths = stack, paths
        self.stop = threading.Event()
        self.reads, self.broken = 0, []
        self.whole: set[tuple[str, bytes]] = set()  # bodies parsed whole already, by digest

    def run(self) -> None:
        session = requests.Session()  # kept alive: a read costs a request, not a connection
        # Uncompressed, so Content-Length counts the very bytes read.
        session.headers["Accept-Encoding"] = "identity"
        while not self.stop.is_set():
            for path in self.paths:
                response = session.get(f"{self.stack.feeds_url}/{path}", timeout=10)
                if response.status_code != 200:
                    continue
                self.reads += 1
                if "content-encoding" in response.headers or len(response.content) != int(
                    response.headers.get("content-length", -1)
                ):
                    self.broken.append((path, "length"))
                self._parse(path, response.content)
            self.stop.wait(POLL_S)
        session.close()

    def _parse(self, path: str, body: bytes) -> None:
        # The same bytes parse the same: each distinct body is parsed once.
        digest = (path, hashlib.sha256(body).digest())
        if digest in self.whole:
            return
        try:
            json.loads(body) if path.endswith(".json") else etree.fromstring(body)
        except (ValueError, etree.XMLSyntaxError):
            self.broken.append((path, "json" if path.endswith(".json") else "xml"))
            return
        self.whole.add(digest)


def titles(body: bytes) -> set[str]:
    """The titles of an RSS feed's items."""
    return {title.text for title in etree.fromstring(body).iterfind("channel/item/title")}


def test_a_worker_killed_mid_build_loses_no_build_and_exposes_no_partial_file(two_workers, fdb):
    stack, db = two_workers, fdb
    paths = [
        f"feeds/sections/{s}.{fmt}" for s in HEAVY_SECTIONS.values() for fmt in ("rss", "json")
    ]
    reader = Reader(stack, [*paths, "feeds/all.atom", "feeds/tags/rusya.rss"])
    reader.start()
    articles: list[dict] = []

    def post(batch: list[dict]) -> None:
        response = stack.http.post(
            f"{stack.ingest_url}/v1/articles:batch", json={"articles": batch}
        )
        assert response.status_code == 200
        articles.extend(batch)

    for start in (0, 20):
        post(heavy_articles(20, start))

    def building() -> tuple[str, str, int, str] | None:
        """A target a worker is building: (its key, that worker, its builds, the holder)."""
        for key in db.scan_iter("nw:target:*"):
            state = db.hgetall(key)
            if state.get("state") == "building":
                victim = process_of(stack, int(state["holder"].rpartition(":")[2]))
                if victim in WORKERS:
                    return key, victim, int(state.get("builds", 0)), state["holder"]
        return None

    def caught() -> tuple[str, str, int, str] | None:
        """building(), polled every 2 ms (a build takes tens of ms) for up to 10 s."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if found := building():
                return found
            time.sleep(0.002)
        return None

    # A build can finish between seeing it and the kill; then aim again at the next one, with
    # more articles to build if the work so far is all done.
    held = None
    for attempt in range(8):
        found = caught()
        if found is None:
            post(heavy_articles(20, 40 + 20 * attempt))
            continue
        key, victim, builds, holder = found
        stack.processes.kill(victim)
        # Frozen now: nobody else takes a dead worker's build before its lease runs out.
        state = db.hgetall(key)
        if state.get("state") == "building" and state.get("holder") == holder:
            held = (key, builds)
        restart(stack, victim)
        if held:
            break
    assert held, "never caught a worker in the middle of a build"

    def settled() -> bool:
        # Fault targets left parked by the tests above stay owed a build: not looked at.
        keys = [k for k in db.scan_iter("nw:target:*") if not k.startswith("nw:target:fault:")]
        return all(s.get("want") == s.get("done") for s in map(db.hgetall, keys))

    # A lost build is requeued once its lease runs out: seconds; waited for many times that.
    eventually(settled, "every target built as far as it is owed", 90)
    key, builds = held
    assert int(db.hget(key, "builds")) > builds, f"{key}, held by the killed worker, not built"
    reader.stop.set()
    reader.join(timeout=10)
    for section, slug in HEAVY_SECTIONS.items():
        expected = {a["title"] for a in articles if a["section"] == section}
        assert titles(stack.feed(f"feeds/sections/{slug}.rss").content) == expected
    print(f"\n{reader.reads} reads of {len(reader.whole)} distinct bodies, all whole")
    assert reader.reads > 0
    assert reader.broken == []
