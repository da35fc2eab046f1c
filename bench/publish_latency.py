"""Publish-to-feed latency: from a PUT sent to the feeds service serving the article.

    .venv/bin/python -m bench.publish_latency [--duration 30] [--rate 20] [--sections 8]

Before the clock starts, every section is filled with older articles, so each build renders
full-size feeds. Then one thread PUTs new articles at a steady rate, each into a section
picked at random, and one poller thread per section asks the feeds service for
`/feeds/sections/<slug>.json` every few milliseconds while an article of that section is
still unseen. Polls are conditional (If-None-Match), so an unchanged feed costs a 304 and no
parsing. An article counts as seen when a response lists its item id.
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from bench.common import (
    ISTANBUL,
    SECTIONS,
    TAGS,
    ArticleFactory,
    CpuMeter,
    Figure,
    Profiler,
    Progress,
    add_stack_arguments,
    builds,
    describe,
    env_overrides,
    positive,
    redis_client,
    run_main,
    running_stack,
    say,
    stack_settings,
    start_extra_workers,
    wait_settled,
)
from devstack.stack import Stack

TARGET_P50_MS = 100
TARGET_P99_MS = 500


@dataclass
class Section:
    """One section's feed and the articles PUT into it but not yet seen there."""

    name: str
    slug: str
    pending: dict[str, float] = field(default_factory=dict)  # item id → when its PUT was sent
    wake: threading.Event = field(default_factory=threading.Event)
    polls: int = 0
    full_reads: int = 0


class Tracker:
    """Latencies of seen articles, shared by the publisher and the pollers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.put_times: list[float] = []
        self.put_errors: list[str] = []
        self.published = 0

    def add_pending(self, section: Section, item_id: str, at: float) -> None:
        with self.lock:
            section.pending[item_id] = at
            self.published += 1
        section.wake.set()

    def seen(self, section: Section, ids: set[str], at: float) -> None:
        with self.lock:
            for item_id in [i for i in section.pending if i in ids]:
                self.latencies.append(at - section.pending.pop(item_id))

    def pending(self) -> int:
        return self.published - len(self.latencies)


def publish(
    stack: Stack,
    factory: ArticleFactory,
    sections: list[Section],
    tracker: Tracker,
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
        article = factory.make(n, section=section.name, published=now)
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
            tracker.put_errors.append(f"{type(exc).__name__}: {exc}")
            continue
        done = time.monotonic()
        if response.status not in (200, 201):
            tracker.put_errors.append(f"HTTP {response.status}")
            continue
        tracker.put_times.append(done - sent)
        # The clock runs from the request sent: the newsroom waits for the response too.
        tracker.add_pending(section, guid_prefix + article["id"], sent)
    conn.close()


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
    section: Section,
    tracker: Tracker,
    interval: float,
    budget: PollBudget,
    stop: threading.Event,
) -> None:
    """Fetch the section's JSON feed every `interval` seconds while it has unseen articles."""
    url = urlsplit(stack.feeds_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    path = f"/feeds/sections/{section.slug}.json"
    etag = ""
    while not stop.is_set():
        if not section.pending:
            section.wake.clear()
            if not section.pending:  # re-checked: an add may have raced the clear
                section.wake.wait(timeout=0.2)
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
        section.polls += 1
        if response.status == 200:
            section.full_reads += 1
            etag = response.getheader("ETag") or ""
            items = orjson.loads(body)["items"]
            tracker.seen(section, {item["id"] for item in items}, arrived)
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


_SUCCEEDED = re.compile(r"Task newswire\.build_target\[[^\]]+\] succeeded in ([0-9.]+)s")


def build_times(log: Path) -> list[float]:
    """Durations of finished builds, from the worker's log."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return []
    return [float(m) for m in _SUCCEEDED.findall(text)]


def builds_by_kind(stack: Stack) -> Counter[str]:
    """Finished builds per kind of target: feed:section, feed:tag, sitemap:news, card, …"""
    db = redis_client(stack)
    out: Counter[str] = Counter()
    for key in db.scan_iter("nw:target:*", count=1000):
        kind, _, rest = key.decode().removeprefix("nw:target:").partition(":")
        group = kind if kind == "card" else f"{kind}:{rest.partition(':')[0]}"
        out[group] += int(db.hget(key, "builds") or 0)
    return out


def run(args: argparse.Namespace) -> list[Figure]:
    from shared.slugs import slugify

    count = int(args.rate * args.duration)
    names = SECTIONS[: args.sections]
    say(
        f"== publish-to-feed latency: {count} articles at {args.rate:g}/s for {args.duration:g}s "
        f"into {len(names)} sections, polling each every {args.poll_ms:g} ms "
        f"(≤ {args.max_polls:g} polls/s in all)"
    )
    factory = ArticleFactory(sections=names, tags=args.tags)
    with running_stack(env_overrides(args.env)) as stack:
        if args.workers > 1:
            start_extra_workers(stack, args.workers - 1)
        for line in describe(stack, args.workers):
            say(line)
        settings = stack_settings(stack)
        guid_prefix = f"tag:{settings.site_host},2026:article:"
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

        sections = [Section(name, slugify(name)) for name in names]
        tracker = Tracker()
        stop = threading.Event()
        budget = PollBudget(args.max_polls)
        pollers = [
            threading.Thread(
                target=poll,
                args=(stack, s, tracker, args.poll_ms / 1000, budget, stop),
                daemon=True,
            )
            for s in sections
        ]
        for thread in pollers:
            thread.start()
        worker_logs = [
            stack.processes.log_dir / f"{name}.log"
            for name in stack.processes.running
            if name.startswith("worker")
        ]
        builds_before = builds(stack)
        log_builds_before = [len(build_times(log)) for log in worker_logs]
        kinds_before = builds_by_kind(stack)
        db = redis_client(stack)
        profiler = Profiler(stack, args.profile, ("worker", "dispatcher", "feeds")).start()
        meter = CpuMeter(stack).start()
        began = time.monotonic()
        publisher = threading.Thread(
            target=publish,
            args=(stack, factory, sections, tracker, args.rate, count, guid_prefix),
            daemon=True,
        )
        publisher.start()
        progress = Progress("latency")
        queue_peak = 0
        while publisher.is_alive():
            publisher.join(timeout=0.1)
            queue_peak = max(queue_peak, int(db.llen("feeds")))
            with tracker.lock:
                recent = sorted(tracker.latencies[-100:])
            progress.update(
                f"{tracker.published}/{count} published, {len(tracker.latencies)} seen, "
                f"{tracker.pending()} pending; last 100 p50 "
                f"{percentile(recent, 50) * 1000:.0f} ms; feeds queue {db.llen('feeds')}"
            )
        meter.stop()
        deadline = time.monotonic() + args.settle
        while tracker.pending() and time.monotonic() < deadline:
            progress.update(f"waiting for {tracker.pending()} unseen articles")
            time.sleep(0.05)
        stop.set()
        for section in sections:
            section.wake.set()
        for thread in pollers:
            thread.join(timeout=5)
        window = time.monotonic() - began
        profiler.stop()
        built = builds(stack) - builds_before
        kinds = builds_by_kind(stack) - kinds_before
        durations = sorted(
            d
            for log, skip in zip(worker_logs, log_builds_before, strict=True)
            for d in build_times(log)[skip:]
        )

    latencies = sorted(x * 1000 for x in tracker.latencies)
    unseen = tracker.pending()
    p50, p90, p99 = (percentile(latencies, q) for q in (50, 90, 99))
    worst = latencies[-1] if latencies else float("nan")
    put_ms = sorted(x * 1000 for x in tracker.put_times)
    polls = sum(s.polls for s in sections)
    say(
        f"result:  {len(latencies)} of {tracker.published} seen; latency p50 {p50:.0f} ms, "
        f"p90 {p90:.0f} ms, p99 {p99:.0f} ms, max {worst:.0f} ms; never seen {unseen}; "
        f"PUT errors {len(tracker.put_errors)}"
    )
    say(
        f"put:     PUT round trip p50 {percentile(put_ms, 50):.1f} ms, "
        f"p99 {percentile(put_ms, 99):.1f} ms"
    )
    say(
        f"polls:   {polls:,} feed requests ({polls / window:,.0f}/s), "
        f"{sum(s.full_reads for s in sections):,} of them full reads, the rest 304"
    )
    say(meter.line())
    say(
        f"builds:  {built} finished during the run (nw:builds): "
        + ", ".join(f"{kind} {n}" for kind, n in kinds.most_common())
    )
    if durations:
        say(
            f"         build time p50 {percentile(durations, 50) * 1000:.0f} ms, "
            f"p90 {percentile(durations, 90) * 1000:.0f} ms, max {durations[-1] * 1000:.0f} ms; "
            f"workers busy {100 * sum(durations) / (window * len(worker_logs)):.0f}% of the "
            f"{window:.1f}s from first PUT to last sighting; "
            f"peak Celery 'feeds' queue {queue_peak}"
        )
    return [
        Figure(
            f"publish→feed p50 ({args.rate:g}/s)", f"{p50:.0f} ms", f"≤ {TARGET_P50_MS} ms",
            p50 <= TARGET_P50_MS,
        ),
        Figure("publish→feed p90", f"{p90:.0f} ms"),
        Figure(
            "publish→feed p99", f"{p99:.0f} ms", f"≤ {TARGET_P99_MS} ms", p99 <= TARGET_P99_MS
        ),
        Figure("publish→feed max", f"{worst:.0f} ms"),
        Figure("never seen", f"{unseen} of {tracker.published}", "0", unseen == 0),
        Figure("builds during latency run", f"{built}"),
    ]  # fmt: skip


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.publish_latency", description=__doc__.splitlines()[0]
    )
    p.add_argument("--duration", type=positive, default=30.0, help="seconds of publishing (30)")
    p.add_argument("--rate", type=positive, default=20.0, help="articles per second (20)")
    p.add_argument(
        "--sections",
        type=int,
        default=8,
        choices=range(1, len(SECTIONS) + 1),
        metavar=f"1-{len(SECTIONS)}",
        help="how many sections the articles spread over (8)",
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
        default=400.0,
        help="cap on feed requests per second across all sections (400)",
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
    add_stack_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
