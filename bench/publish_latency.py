"""Publish-to-feed latency: from a PUT sent to the article in every feed it lands in.

    .venv/bin/python -m bench.publish_latency [--duration 30] [--rate 20] [--sections 5]

Before the clock starts, every section is filled with older articles, so each build renders
full-size feeds. Then one thread PUTs new articles at a steady rate, each into a section
picked at random, with three tags and an author. Every feed an article lands in is watched,
two ways, each timed from the PUT sent:
- polled: one poller thread per feed asks the feeds service for it every few milliseconds
  while an article is unseen there (conditional requests: an unchanged feed costs a 304). The
  site-wide feed is read as RSS (`all.rss`), the others as JSON Feed.
- pushed: a WebSub subscriber on 127.0.0.2 subscribed to every one of those feeds through the
  stack's hub, and an article counts when a pushed body lists it: what a reader receives.
Latency is reported per kind of feed beside its target. From the workers' logs: how long each
target was owed before its build finished (the most is the starvation figure), and each
kind's build time. From Redis's INFO commandstats: its time per article over the run, for
every command the stack sent (writes, dispatch, broker, builds); from its CLIENT LIST, the
commands it ran for each service (`bench.redis_clients`).
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from bench.articles import AUTHORS, ISTANBUL, SECTIONS, TAGS, ArticleFactory
from bench.cli import add_stack_arguments, env_overrides, positive, run_main
from bench.cpu import CpuMeter
from bench.lua_stats import LuaSampler
from bench.profiling import Profiler, stack_pids
from bench.push_subscriber import STACK_ENV as PUSH_ENV
from bench.push_subscriber import PushSubscriber
from bench.redis_clients import ClientCounts, RoundTripSampler, stack_groups
from bench.report import Figure, Progress, say
from bench.stacks import (
    builds,
    describe,
    redis_client,
    redis_thread_seconds,
    running_stack,
    stack_settings,
    start_extra_workers,
    wait_settled,
)
from devstack.stack import Stack
from services.render.pipeline.build_queue import BUILD_TASK
from shared.state import redis_keys

KINDS = ("all", "section", "tag", "author")
# (p50, p99) in ms: what most readers fetch is urgent; tags and authors are routine.
TARGETS_MS = {"all": (50, 250), "section": (50, 250), "tag": (250, 1000), "author": (250, 1000)}
TARGET_OWED_MAX_MS = 1000  # no target waits longer from owed to built
TARGET_BUILD_P50_MS, TARGET_BUILD_P90_MS = 4, 8  # feed targets, under this load
TARGET_REDIS_US = 250  # Redis time per article, everything included
MAIN_THREAD = "main thread"  # in `redis_usec`: the main thread's CPU time, not a command
_GUID = re.compile(rb"<guid[^>]*>([^<]+)</guid>")


@dataclass
class Watched:
    """One feed and the articles PUT into it but not yet seen there."""

    kind: str  # section, tag or author
    slug: str
    pending: dict[str, float] = field(default_factory=dict)  # item id → when its PUT was sent
    wake: threading.Event = field(default_factory=threading.Event)
    polls: int = 0
    full_reads: int = 0

    @property
    def path(self) -> str:
        if self.kind == "all":
            return "/feeds/all.rss"
        return f"/feeds/{self.kind}s/{self.slug}.json"

    def ids(self, body: bytes) -> set[str]:
        """The item ids a response body of this feed lists."""
        if self.kind == "all":
            return {guid.decode() for guid in _GUID.findall(body)}
        return {item["id"] for item in orjson.loads(body)["items"]}


class Tracker:
    """Latencies of seen articles by kind of feed, shared by the publisher and the pollers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
        self.put_times: list[float] = []
        self.put_errors: list[str] = []
        self.published = 0  # articles
        self.expected = 0  # (article, feed) sightings owed

    def add_pending(self, feeds: list[Watched], item_id: str, at: float) -> None:
        with self.lock:
            for feed in feeds:
                feed.pending[item_id] = at
            self.published += 1
            self.expected += len(feeds)
        for feed in feeds:
            feed.wake.set()

    def seen(self, feed: Watched, ids: set[str], at: float) -> None:
        with self.lock:
            for item_id in [i for i in feed.pending if i in ids]:
                self.latencies[feed.kind].append(at - feed.pending.pop(item_id))

    def sightings(self) -> int:
        return sum(len(values) for values in self.latencies.values())

    def pending(self) -> int:
        return self.expected - self.sightings()


def publish(
    stack: Stack,
    factory: ArticleFactory,
    sections: list[str],
    observers: list[tuple[dict[tuple[str, str], Watched], Tracker]],
    rate: float,
    count: int,
    guid_prefix: str,
) -> None:
    """PUT `count` new articles at `rate` per second, on schedule (late ones go at once)."""
    url = urlsplit(stack.ingest_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    headers = {
        "Authorization": stack.http.headers["Authorization"],
        "Content-Type": "application/json",
    }
    choose = random.Random(42)
    start = time.monotonic()
    for i in range(count):
        section = choose.choice(sections)
        n = 1_000_000 + i
        now = datetime.now(ISTANBUL).replace(microsecond=0) - timedelta(seconds=1)
        article = factory.make(n, section=section, published=now)
        body = orjson.dumps(article)
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent = time.monotonic()
        try:
            conn.request("PUT", f"/v1/articles/{article['id']}", body, headers)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            observers[0][1].put_errors.append(f"{type(exc).__name__}: {exc}")
            continue
        done = time.monotonic()
        if response.status not in (200, 201):
            observers[0][1].put_errors.append(f"HTTP {response.status}")
            continue
        observers[0][1].put_times.append(done - sent)
        # The clock runs from the request sent: the newsroom waits for the response too.
        for feeds, tracker in observers:
            tracker.add_pending(landing(article, feeds), guid_prefix + article["id"], sent)
    conn.close()


def landing(article: dict[str, object], feeds: dict[tuple[str, str], Watched]) -> list[Watched]:
    """The watched feeds an article lands in: of its section's, its tags' and its author's,
    those in `feeds`."""
    from shared.language.slugs import slugify

    names = [("section", article["section"])]
    names += [("tag", tag) for tag in article["tags"]]  # type: ignore[attr-defined]
    names += [("author", a["name"]) for a in article["authors"]]  # type: ignore[attr-defined]
    keys = [("all", ""), *((kind, slugify(str(name))) for kind, name in names)]
    return [feeds[key] for key in keys if key in feeds]  # the soak watches sections only


class PollBudget:
    """Spaces all pollers' requests at least `1 / per_second` apart.

    When builds fall behind, every section has unseen articles at once; without a shared
    cap the pollers alone would take a core from the stack they measure. With one or two
    sections waiting, each still polls at its own interval.
    """

    def __init__(self, per_second: float) -> None:
        self._gap = 1 / per_second
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._gap
        if slot > now:
            stop.wait(slot - now)


def poll(
    stack: Stack,
    feed: Watched,
    tracker: Tracker,
    interval: float,
    budget: PollBudget,
    stop: threading.Event,
) -> None:
    """Fetch the feed's JSON every `interval` seconds while it has unseen articles."""
    url = urlsplit(stack.feeds_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    path = feed.path
    etag = ""
    while not stop.is_set():
        if not feed.pending:
            feed.wake.clear()
            if not feed.pending:  # re-checked: an add may have raced the clear
                feed.wake.wait(timeout=0.2)
            continue
        budget.wait(stop)
        began = time.monotonic()
        headers = {"Accept-Encoding": "identity"}
        if etag:
            headers["If-None-Match"] = etag
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            stop.wait(interval)
            continue
        arrived = time.monotonic()
        feed.polls += 1
        if response.status == 200:
            feed.full_reads += 1
            etag = response.getheader("ETag") or ""
            tracker.seen(feed, feed.ids(body), arrived)
        rest = began + interval - time.monotonic()
        if rest > 0:
            stop.wait(rest)
    conn.close()


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


_TASK_RECEIVED = re.compile(rf"Task {re.escape(BUILD_TASK)}\[[^\]]+\] received")
_BUILT = re.compile(
    r"built ([^:\s]+:[a-z]*)\S* at \S+ \(\w+; owed (\d+|\?) ms; queued (\d+|\?) ms; "
    r"took ([0-9.]+) ms\)"
)


@dataclass(frozen=True)
class Built:
    """A finished build, from a worker's log: `feed:tag`, `sitemap:news`, `card:`…"""

    kind: str
    owed_ms: int | None  # from the first event it covers to its finish
    queued_ms: int | None  # of that, from its task sent to its start
    took_ms: float  # the build task's own time, coordination included


def build_tasks_taken(log: Path) -> int:
    """How many build tasks a worker's log says it took (Celery logs each one received)."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return 0
    return len(_TASK_RECEIVED.findall(text))


def builds_logged(log: Path) -> list[Built]:
    """The finished builds a worker's log lists, in order."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return []
    return [
        Built(kind, _known(owed), _known(queued), float(took))
        for kind, owed, queued, took in _BUILT.findall(text)
    ]


def _known(ms: str) -> int | None:
    return None if ms == "?" else int(ms)


def redis_usec(db: Any) -> dict[str, tuple[int, int]]:
    """Calls and microseconds per command Redis has run so far (INFO commandstats), and under
    MAIN_THREAD the reads from client sockets and the CPU time of its main thread in
    microseconds."""
    stats = db.info("commandstats")
    thread_s = redis_thread_seconds(db)
    # Reads from clients' sockets: about one per round trip (a pipeline is one).
    reads = int(db.info("stats")["total_reads_processed"])
    return {
        MAIN_THREAD: (reads, round(thread_s * 1e6)),
        **{
            name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
            for name, v in stats.items()
        },
    }


def builds_by_kind(stack: Stack) -> Counter[str]:
    """Finished builds per kind of target: feed:section, feed:tag, sitemap:news, card, …"""
    db = redis_client(stack)
    out: Counter[str] = Counter()
    for key in db.scan_iter(redis_keys.target("*"), count=1000):
        kind, _, rest = key.decode().removeprefix(redis_keys.target("")).partition(":")
        group = kind if kind == "card" else f"{kind}:{rest.partition(':')[0]}"
        out[group] += int(db.hget(key, "builds") or 0)
    return out


def queue_lists(queue: str) -> list[str]:
    """Every Redis list kombu keeps for `queue`: one per priority step, not only the base."""
    from kombu.transport.redis import Channel

    from shared.priorities import PRIORITY_STEPS

    return [queue if step == PRIORITY_STEPS[0] else f"{queue}{Channel.sep}{step}"
            for step in PRIORITY_STEPS]  # fmt: skip


def run(args: argparse.Namespace) -> list[Figure]:
    from shared.language.slugs import slugify

    count = int(args.rate * args.duration)
    names = SECTIONS[: args.sections]
    say(
        f"== publish-to-feed latency: {count} articles at {args.rate:g}/s for {args.duration:g}s "
        f"into {len(names)} sections, each with {args.tags} tags and an author; polling every "
        f"feed an article lands in every {args.poll_ms:g} ms (≤ {args.max_polls:g} polls/s), "
        f"and subscribed to each through the WebSub hub"
    )
    factory = ArticleFactory(sections=names, tags=args.tags)
    with running_stack({**PUSH_ENV, **env_overrides(args.env)}) as stack:
        if args.workers > 1:
            start_extra_workers(stack, args.workers - 1)
        for line in describe(stack, args.workers):
            say(line)
        settings = stack_settings(stack)
        guid_prefix = f"tag:{settings.site_host},{settings.tag_date}:article:"
        prefill = [factory.make(n) for n in range(args.prefill * len(names))]
        for start in range(0, len(prefill), 500):
            response = stack.http.post(
                f"{stack.ingest_url}/v1/articles:batch",
                json={"articles": prefill[start : start + 500]},
                timeout=120,
            )
            response.raise_for_status()
        say(f"prefill: {len(prefill):,} older articles ({args.prefill} per section); building")
        if wait_settled(stack, 120, Progress("prefill")) is None:
            say("prefill: builds still running after 120s; measuring anyway")

        watched = [("all", "")] + [("section", n) for n in names] + [("tag", t) for t in TAGS]
        watched += [("author", a) for a in AUTHORS]
        keys = [(kind, slugify(name)) for kind, name in watched]
        feeds = {key: Watched(*key) for key in keys}
        pushed = {key: Watched(*key) for key in keys}
        tracker, push_tracker = Tracker(), Tracker()
        subscriber = PushSubscriber(_on_push(pushed, push_tracker)).start()
        callbacks = {f"/push/{kind}/{slug}": feed.path.lstrip("/") for (kind, slug), feed in
                     feeds.items()}  # fmt: skip
        verified = subscriber.subscribe(stack.feeds_url, callbacks)
        # A feed the hub would not take (none built yet) is not timed by push.
        for kind, slug in list(pushed):
            if f"/push/{kind}/{slug}" not in verified:
                del pushed[(kind, slug)]
        say(f"websub:  {len(verified)} of {len(callbacks)} feeds subscribed and verified")
        stop = threading.Event()
        budget = PollBudget(args.max_polls)
        pollers = [
            threading.Thread(
                target=poll,
                args=(stack, feed, tracker, args.poll_ms / 1000, budget, stop),
                daemon=True,
            )
            for feed in feeds.values()
        ]
        for thread in pollers:
            thread.start()
        worker_logs = [
            stack.processes.log_dir / f"{name}.log"
            for name in stack.processes.running
            if name.startswith("worker") or name.startswith("card-worker")
        ]
        builds_before = builds(stack)
        logged_before = [len(builds_logged(log)) for log in worker_logs]
        feed_logs = [log for log in worker_logs if log.name.startswith("worker")]
        tasks_before = sum(build_tasks_taken(log) for log in feed_logs)
        kinds_before = builds_by_kind(stack)
        db = redis_client(stack)
        feeds_queue = queue_lists("feeds")
        profiler = Profiler(args.profile, stack_pids(stack, stack.processes.running)).start()
        meter = CpuMeter(stack).start()
        redis_before = redis_usec(db)
        clients = ClientCounts(db, stack_groups(stack)).start()
        # Which scripts Redis's time goes to: a few seconds in the middle of the run.
        scripts = LuaSampler(db, after=args.duration / 2 - 2.5, seconds=5).start()
        round_trips = (
            RoundTripSampler(db, stack_groups(stack), after=args.duration / 2 - 4, seconds=8)
            if args.round_trips
            else None
        )
        if round_trips is not None:
            round_trips.start()
        began = time.monotonic()
        publisher = threading.Thread(
            target=publish,
            args=(
                stack, factory, list(names), [(feeds, tracker), (pushed, push_tracker)],
                args.rate, count, guid_prefix,
            ),
            daemon=True,
        )  # fmt: skip
        publisher.start()
        progress = Progress("latency")
        queue_peak = 0
        while publisher.is_alive():
            publisher.join(timeout=0.1)
            depth = sum(int(n) for n in redis_pipeline_llen(db, feeds_queue))
            queue_peak = max(queue_peak, depth)
            with tracker.lock:
                recent = sorted(tracker.latencies["section"][-100:])
            progress.update(
                f"{tracker.published}/{count} published, {tracker.sightings()} sightings, "
                f"{tracker.pending()} pending; sections' last 100 p50 "
                f"{percentile(recent, 50) * 1000:.0f} ms; feeds queue {depth}"
            )
        meter.stop()
        deadline = time.monotonic() + args.settle
        while (tracker.pending() or push_tracker.pending()) and time.monotonic() < deadline:
            progress.update(
                f"waiting for {tracker.pending()} unseen sightings, {push_tracker.pending()} "
                f"unpushed"
            )
            time.sleep(0.05)
        # Redis's time is counted up to here: every build the articles owed has run.
        redis_after = redis_usec(db)
        clients.stop()
        if round_trips is not None:
            round_trips.join()  # while the stack still runs
        stop.set()
        for feed in feeds.values():
            feed.wake.set()
        for thread in pollers:
            thread.join(timeout=5)
        window = time.monotonic() - began
        profiler.stop()
        subscriber.stop()
        built = builds(stack) - builds_before
        kinds = builds_by_kind(stack) - kinds_before
        logged = [
            b
            for log, skip in zip(worker_logs, logged_before, strict=True)
            for b in builds_logged(log)[skip:]
        ]
        tasks = sum(build_tasks_taken(log) for log in feed_logs) - tasks_before

    generator = meter.share("bench client")
    figures: list[Figure] = []
    for label, observed in (("polled", tracker), ("pushed", push_tracker)):
        figures += _latency_figures(label, observed, args.rate, generator)
    unseen, unpushed = tracker.pending(), push_tracker.pending()
    put_ms = sorted(x * 1000 for x in tracker.put_times)
    polls = sum(f.polls for f in feeds.values())
    say(
        f"result:  {tracker.sightings()} of {tracker.expected} sightings of {tracker.published} "
        f"articles; never seen {unseen}; never pushed {unpushed} of {push_tracker.expected}; "
        f"PUT errors {len(tracker.put_errors)}"
    )
    say(
        f"put:     PUT round trip p50 {percentile(put_ms, 50):.1f} ms, "
        f"p99 {percentile(put_ms, 99):.1f} ms"
    )
    say(
        f"polls:   {polls:,} feed requests ({polls / window:,.0f}/s), "
        f"{sum(f.full_reads for f in feeds.values()):,} of them full reads, the rest 304"
    )
    say(meter.line())
    say(
        f"builds:  {built} finished during the run (nw:builds): "
        + ", ".join(f"{kind} {n}" for kind, n in kinds.most_common())
    )
    figures += _build_figures(logged, window, tracker.published)
    feed_builds = sum(1 for b in logged if not b.kind.startswith("card:"))
    say(
        f"tasks:   the feed worker took {tasks:,} build tasks for {feed_builds:,} builds "
        f"({feed_builds / max(tasks, 1):.2f} builds per task; a task whose targets were all "
        f"built already builds nothing)"
    )
    figures += _redis_figures(redis_before, redis_after, tracker.published)
    say(clients.line(tracker.published))
    say(scripts.join().line())
    if round_trips is not None:
        say(round_trips.line(args.rate))
    say(f"         peak 'feeds' queue {queue_peak} (all priority lists)")
    return [
        *figures,
        Figure("never seen (polled)", unseen, note=f"of {tracker.expected}", at_most=0, target="0"),
        Figure("never pushed", unpushed, note=f"of {push_tracker.expected}", at_most=0, target="0"),
        Figure("builds during latency run", built),
    ]


def _on_push(
    feeds: dict[tuple[str, str], Watched], tracker: Tracker
) -> Callable[[str, bytes, float], None]:
    def seen(path: str, body: bytes, arrived: float) -> None:
        _, _, kind, slug = path.split("/", 3)
        feed = feeds.get((kind, slug))
        if feed is not None:
            tracker.seen(feed, feed.ids(body), arrived)

    return seen


def _latency_figures(label: str, tracker: Tracker, rate: float, generator: float) -> list[Figure]:
    figures = []
    for kind in KINDS:
        latencies = sorted(x * 1000 for x in tracker.latencies[kind])
        p50, p90, p99 = (percentile(latencies, q) for q in (50, 90, 99))
        worst = latencies[-1] if latencies else float("nan")
        target_p50, target_p99 = TARGETS_MS[kind]
        say(
            f"{label} {kind + ':':8} {len(latencies)} sightings; p50 {p50:.0f} ms, "
            f"p90 {p90:.0f} ms, p99 {p99:.0f} ms, max {worst:.0f} ms"
        )
        where = "all.rss" if kind == "all" else f"its {kind} feed"
        figures += [
            Figure(
                f"PUT sent → {label} in {where}, p50 ({rate:g}/s)",
                p50,
                unit=" ms",
                note=f"(generator CPU {generator:.0%} of a core)" if kind == "all" else "",
                at_most=target_p50,
            ),
            Figure(
                f"PUT sent → {label} in {where}, p99",
                p99,
                unit=" ms",
                note=f"(p90 {p90:.0f}, max {worst:.0f})",
                at_most=target_p99,
            ),
        ]
    return figures


def _build_figures(logged: list[Built], window: float, articles: int) -> list[Figure]:
    """Starvation (owed → built) and build time by kind, from the workers' logs."""
    owed = sorted(b.owed_ms for b in logged if b.owed_ms is not None)
    by_kind: dict[str, list[Built]] = {}
    for b in logged:
        by_kind.setdefault(b.kind, []).append(b)
    for kind, of_kind in sorted(by_kind.items()):
        took = sorted(b.took_ms for b in of_kind)
        owed_ms = sorted(b.owed_ms for b in of_kind if b.owed_ms is not None)
        queued = sorted(b.queued_ms for b in of_kind if b.queued_ms is not None)
        say(
            f"         {kind:14} {len(took):5} builds ({len(took) / max(articles, 1):.2f} per "
            f"article), p50 {percentile(took, 50):.1f} ms, p90 {percentile(took, 90):.1f} ms, "
            f"max {took[-1]:.1f} ms, {sum(took) / window / 10:.0f}% of a core; owed p50 "
            f"{percentile(owed_ms, 50):.0f} ms (queued {percentile(queued, 50):.0f}), longest "
            f"{max(owed_ms, default=0):,} ms"
        )
    feed = sorted(t for b in logged if b.kind.startswith("feed:") for t in [b.took_ms])
    worst = owed[-1] if owed else None
    say(
        f"owed:    owed → built p50 {percentile(owed, 50):.0f} ms, p99 {percentile(owed, 99):.0f} "
        f"ms, max {worst} ms over {len(owed)} builds"
    )
    return [
        Figure(
            "owed → built, longest wait of any target",
            worst,
            unit=" ms",
            note=f"(p99 {percentile(owed, 99):.0f} ms)",
            at_most=TARGET_OWED_MAX_MS,
        ),
        Figure(
            "feed build under load, p50",
            percentile(feed, 50) if feed else None,
            unit=" ms",
            spec=",.1f",
            note=f"({len(feed)} feed builds)",
            at_most=TARGET_BUILD_P50_MS,
        ),
        Figure(
            "feed build under load, p90",
            percentile(feed, 90) if feed else None,
            unit=" ms",
            spec=",.1f",
            at_most=TARGET_BUILD_P90_MS,
        ),
    ]


def _redis_figures(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], articles: int
) -> list[Figure]:
    """Redis's own time per article over the run, by command, from INFO commandstats, and
    the CPU time of its main thread.

    Valkey counts a command a script calls twice in commandstats: within the script's call
    (evalsha) and again under its own name. Their sum overstates the commands' time; the
    main thread's CPU (commands, scripts once, and the socket reads and writes around them)
    is what the one thread actually spent."""
    spent = {
        name: (calls - before.get(name, (0, 0))[0], usec - before.get(name, (0, 0))[1])
        for name, (calls, usec) in after.items()
    }
    reads, thread_usec = spent.pop(MAIN_THREAD)
    thread_per_article = thread_usec / max(articles, 1)
    total = sum(usec for _, usec in spent.values())
    per_article = total / max(articles, 1)
    say(
        f"redis:   main thread {thread_usec / 1e6:.2f} s of CPU for {articles} articles, "
        f"{reads / max(articles, 1):.0f} client reads (round trips) per article, "
        f"{thread_usec / max(reads, 1):.1f} µs of the thread's CPU each"
    )
    top = sorted(spent.items(), key=lambda item: -item[1][1])[:8]
    say(
        f"redis:   {total / 1e6:.2f} s of Redis time for {articles} articles: "
        f"{per_article:.0f} µs per article; by command (µs per article, calls per article): "
        + ", ".join(
            f"{name} {usec / max(articles, 1):.0f} ({calls / max(articles, 1):.1f})"
            for name, (calls, usec) in top
        )
    )
    return [
        Figure(
            "Redis µs per article, commandstats (script calls counted twice)",
            per_article if articles else None,
            unit=" µs",
            note=f"(≥ {1e6 / per_article:,.0f} articles/s on one Redis)" if per_article else "",
            at_most=TARGET_REDIS_US,
        ),
        Figure(
            "Redis main-thread CPU µs per article (write, dispatch, broker, builds)",
            thread_per_article if articles else None,
            unit=" µs",
            note=f"(about {1e6 / thread_per_article:,.0f} articles/s on one Redis)"
            if thread_per_article
            else "",
            at_most=TARGET_REDIS_US,
        ),
    ]


def redis_pipeline_llen(db: object, lists: list[str]) -> list[int]:
    pipe = db.pipeline(transaction=False)  # type: ignore[attr-defined]
    for name in lists:
        pipe.llen(name)
    return pipe.execute()  # type: ignore[no-any-return]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.publish_latency", description=__doc__.splitlines()[0]
    )
    p.add_argument("--duration", type=positive, default=30.0, help="seconds of publishing (30)")
    p.add_argument("--rate", type=positive, default=20.0, help="articles per second (20)")
    p.add_argument(
        "--sections",
        type=int,
        default=5,
        choices=range(1, len(SECTIONS) + 1),
        metavar=f"1-{len(SECTIONS)}",
        help="how many sections the articles spread over (5)",
    )
    p.add_argument(
        "--tags",
        type=int,
        default=3,
        choices=range(len(TAGS) + 1),
        metavar=f"0-{len(TAGS)}",
        help="tags per article, each a feed to rebuild (3)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        choices=range(1, 9),
        metavar="1-8",
        help="Celery workers of concurrency 1, as `--scale worker=N` (1)",
    )
    p.add_argument("--poll-ms", type=positive, default=5.0, help="feed poll interval in ms (5)")
    p.add_argument(
        "--max-polls",
        type=positive,
        default=250.0,
        # At 1,000/s the pollers and the feeds service answering them took 0.8 of a core
        # between them, from the builds being timed (section p50 814 ms against 398 ms here).
        help="cap on feed requests per second across all watched feeds (250)",
    )
    p.add_argument(
        "--prefill", type=int, default=60, help="older articles per section loaded first (60)"
    )
    p.add_argument(
        "--settle",
        type=positive,
        default=10.0,
        help="seconds to keep looking for unseen articles after the last PUT (10)",
    )
    p.add_argument(
        "--round-trips",
        action="store_true",
        help="count each service's round trips to Redis for 8 s mid-run, with strace "
        "(which slows Redis's reads meanwhile)",
    )
    add_stack_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
