"""Soak: `make run`'s stack under steady load while its feeds worker is killed again and again.

    .venv/bin/python -m bench.soak [--duration 600] [--rate 50] [--kill-every 30]

Runs `python -m devstack` (the supervisor `make run` uses) on a temporary directory and free
ports, PUTs new articles at a steady rate into random sections, and every `--kill-every`
seconds kills the feeds/sitemaps worker's whole process group with SIGKILL; the supervisor
restarts it. Pollers read each section's JSON feed meanwhile. After the load, the stack gets
`--settle` seconds to finish, then every event of the run is checked against the targets.

What each figure means:
- events in: `article.*` events the run's PUTs appended to the stream.
- fully processed: events each of whose targets finished a build at or past the event's id
  (its `done` watermark), so every output it touches shows it. Lost: an event some target
  of which is idle (no build queued or running) yet not built past it: nothing ever will.
  Still owed: the rest, whose targets are still queued or building when the settling ends.
- duplicate builds: a coalesced event group is the set of one target's events up to the
  watermark a build starts from; building that group once is the work owed. A duplicate is
  a finished build of a (target, watermark) pair that had already been built: work done twice.
  A build cut short by a kill never finishes, so it is not one; its rebuild is the first.
- publish→feed: from the PUT being sent to the article's item in its section's JSON feed.
  An article pushed out of the feed (50 items) before a poll saw it counts as never seen.
- RSS: resident memory of the worker (its process group: the main process and its pool),
  the feeds service and Redis, sampled `--warmup` seconds into the load and at its end. A
  worker lives only until its kill, so it is sampled just before each kill instead: the
  first such sample against the last, each a process that ran `--kill-every` seconds under
  load. Redis holds every article written, so its RSS grows with the data; it is judged on
  the memory it holds beyond its dataset.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests

from bench.articles import SECTIONS, ArticleFactory
from bench.cli import env_overrides, positive, positive_int, run_main
from bench.publish_latency import PollBudget, Tracker, Watched, percentile, poll, publish
from bench.report import Figure, Progress, say
from bench.stacks import stack_settings
from devstack.redis_server import free_port
from devstack.services import ROOT, wait_http
from devstack.stack import busy
from shared.state import redis_keys
from shared.state.events import event_id_key

TARGET_P99_MS = 500
TARGET_GROWTH = 0.10
KILLED = "worker"

_STARTED = re.compile(r"^\d\d:\d\d:\d\d (\S+) +\| started \(pid (\d+)\)$")
_RESTART = re.compile(r"\| (\S+) exited \((.+?)\); restarting in")
_BUILT = re.compile(r"built (\S+) at (\d+-\d+) \((published|superseded)[;)]")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=positive, default=600, help="seconds of load (600)")
    p.add_argument("--rate", type=positive, default=50, help="articles PUT per second (50)")
    p.add_argument(
        "--kill-every", type=positive, default=30, help="seconds between worker kills (30)"
    )
    p.add_argument("--sections", type=positive_int, default=8, help="sections to publish into")
    p.add_argument("--warmup", type=positive, default=15, help="seconds before the first RSS")
    p.add_argument("--settle", type=positive, default=120, help="seconds allowed to finish")
    p.add_argument("--keep", type=Path, help="keep the run's state and log in this directory")
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NEWSWIRE_NAME=VALUE",
        help="a setting for the stack's processes (repeatable)",
    )
    return p


@dataclass
class DevRun:
    """`python -m devstack` as a child; its output goes to a log file and is watched for the
    supervisor's lines (pids started, restarts) and the workers' finished builds."""

    var: Path
    env_overrides: dict[str, str]
    ingest_url: str = ""
    feeds_url: str = ""
    env: dict[str, str] = field(default_factory=dict)  # the NEWSWIRE_* settings it runs with
    http: requests.Session = field(default_factory=requests.Session)
    pids: dict[str, int] = field(default_factory=dict)
    restarts: Counter[str] = field(default_factory=Counter)
    builds: Counter[tuple[str, str]] = field(default_factory=Counter)
    ready: Counter[str] = field(default_factory=Counter)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> DevRun:
        ingest_port, feeds_port = free_port(), free_port()
        self.ingest_url = f"http://127.0.0.1:{ingest_port}"
        self.feeds_url = f"http://127.0.0.1:{feeds_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
        self.env = self.env_overrides | {
            "NEWSWIRE_INGEST_PORT": str(ingest_port),
            "NEWSWIRE_FEEDS_PORT": str(feeds_port),
            "NEWSWIRE_FEEDS_BASE_URL": self.feeds_url + "/",
            # Free metrics ports too: `make run` refuses ports another stack holds.
            **{
                f"NEWSWIRE_{name}_METRICS_PORT": str(free_port())
                for name in ("DISPATCHER", "WORKER", "CARD_WORKER", "PUSH_WORKER")
            },
        }
        env |= self.env
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack", "--var", str(self.var)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._watch, daemon=True).start()
        wait_http(self.ingest_url + "/healthz", timeout=60, process=self.process)
        wait_http(self.feeds_url + "/healthz", timeout=60, process=self.process)
        deadline = time.monotonic() + 60
        while not all(self.ready[n] for n in ("worker", "card-worker", "push-worker")):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workers did not become ready; see {self.log_path}")
            time.sleep(0.1)
        key = (self.var / "dev-api-key").read_text().strip()
        self.http.headers["Authorization"] = f"Bearer {key}"
        return self

    @property
    def log_path(self) -> Path:
        return self.var / "devstack.log"

    def _watch(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with self.log_path.open("wb") as log:
            for raw in self.process.stdout:
                log.write(raw)
                line = raw.decode(errors="replace").rstrip("\n")
                if started := _STARTED.match(line):
                    self.pids[started[1]] = int(started[2])
                elif restarted := _RESTART.search(line):
                    self.restarts[restarted[1]] += 1
                elif built := _BUILT.search(line):
                    self.builds[(built[1], built[2])] += 1
                elif line.endswith(" ready."):
                    self.ready[line.split()[1]] += 1

    def redis(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.var / "redis.sock"))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def rss_mb(pid: int, whole_group: bool = False) -> float:
    """Resident memory of a process (or of its whole process group), in MB."""
    pids = [pid]
    if whole_group:
        pids = []
        for entry in Path("/proc").iterdir():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except (OSError, ValueError):
                continue
            if entry.name.isdigit() and int(fields[2]) == pid:
                pids.append(int(entry.name))
    total_kb = 0
    for member in pids:
        try:
            for line in (Path("/proc") / str(member) / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


@dataclass
class Memory:
    worker: float
    feeds: float
    redis_rss: float
    redis_beyond_data: float


def sample_memory(run: DevRun, db: redis.Redis) -> Memory:
    info = db.info("memory")
    rss = rss_mb(run.pids["redis"])
    return Memory(
        worker=rss_mb(run.pids[KILLED], whole_group=True),
        feeds=rss_mb(run.pids["feeds"]),
        redis_rss=rss,
        redis_beyond_data=rss - info["used_memory_dataset"] / 2**20,
    )


class Killer(threading.Thread):
    """SIGKILLs the worker's process group every `every` seconds; records how long each
    restart took until the new worker said it was ready."""

    def __init__(self, run: DevRun, every: float, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.run_, self.every, self.stop = run, every, stop
        self.kills = 0
        self.back_in: list[float] = []
        self.rss_before_kill: list[float] = []

    def run(self) -> None:
        began = time.monotonic()
        while not self.stop.wait(began + (self.kills + 1) * self.every - time.monotonic()):
            pid, ready = self.run_.pids[KILLED], self.run_.ready[KILLED]
            try:
                self.rss_before_kill.append(rss_mb(pid, whole_group=True))
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            killed_at = time.monotonic()
            self.kills += 1
            while self.run_.ready[KILLED] == ready and not self.stop.wait(0.05):
                pass
            if self.run_.ready[KILLED] > ready:
                self.back_in.append(time.monotonic() - killed_at)


@dataclass
class Outcome:
    """What became of the run's article events once the stack had settled."""

    events: int = 0
    processed: int = 0  # every target built at or past the event
    lost: int = 0  # some target not built past it, and no build of it owed: never will be
    owed: int = 0  # some target not built past it yet, but still queued or building
    missed_by: Counter[str] = field(default_factory=Counter)  # target -> events it lacks


def check_events(db: redis.Redis, first_id: str) -> Outcome:
    """Hold every `article.*` event from `first_id` on against its targets' watermarks."""
    targets: dict[str, tuple[tuple[int, int], bool]] = {}  # name -> (done, build owed)

    def state(target: str) -> tuple[tuple[int, int], bool]:
        if target not in targets:
            done, now = db.hmget(redis_keys.target(target), "done", "state")
            mark = event_id_key(done.decode()) if done else (0, 0)
            targets[target] = (mark, now not in (None, b"idle"))
        return targets[target]

    outcome = Outcome()
    start = first_id
    while True:
        chunk = db.xrange("nw:events", min=start, max="+", count=1000)
        for event_id, fields in chunk:
            if not fields[b"type"].startswith(b"article."):
                continue
            outcome.events += 1
            key = event_id_key(event_id.decode())
            missed = [t for t in json.loads(fields[b"targets"]) if state(t)[0] < key]
            outcome.missed_by.update(missed)
            if not missed:
                outcome.processed += 1
            elif all(state(t)[1] for t in missed):
                outcome.owed += 1
            else:
                outcome.lost += 1
        if len(chunk) < 1000:
            return outcome
        start = "(" + chunk[-1][0].decode()


def growth(before: float, after: float) -> float:
    return (after - before) / before if before else float("inf")


def memory_figure(name: str, before: float, after: float) -> Figure:
    return Figure(
        name,
        growth(before, after),
        spec="+.1%",
        note=f"({before:.0f} MB → {after:.0f} MB)",
        below=TARGET_GROWTH,
        target=f"< {TARGET_GROWTH:.0%} growth",
    )


def run(args: argparse.Namespace) -> list[Figure]:
    count = int(args.rate * args.duration)
    names = SECTIONS[: args.sections]
    say(
        f"== soak: {count:,} articles at {args.rate:g}/s for {args.duration:g}s into "
        f"{len(names)} sections, the {KILLED} killed (SIGKILL) every {args.kill_every:g}s"
    )
    with tempfile.TemporaryDirectory(prefix="newswire-soak-") as tmp:
        var = args.keep or Path(tmp)
        var.mkdir(parents=True, exist_ok=True)
        run_ = DevRun(var, env_overrides(args.env)).start()
        try:
            return soak(run_, args, count, list(names))
        finally:
            run_.stop()
            say(f"log: {run_.log_path}" if args.keep else "")


def soak(run_: DevRun, args: argparse.Namespace, count: int, sections: list[str]) -> list[Figure]:
    db = run_.redis()
    server = db.info("server")
    version = server.get("valkey_version", server["redis_version"])
    settings = stack_settings(run_)  # type: ignore[arg-type]
    say(
        f"stack: `python -m devstack` (the `make run` supervisor), {server['server_name']} "
        f"{version}, build_lease_ms={settings.build_lease_ms} "
        f"debounce_window_ms={settings.debounce_window_ms}"
    )
    # Sections and tags are picked with fixed seeds, so every run sends the same load.
    from shared.language.slugs import slugify

    factory = ArticleFactory(run="soak", sections=tuple(sections))
    # Section feeds only: the soak watches what the newsroom reads first.
    feeds = {("section", slugify(n)): Watched("section", slugify(n)) for n in sections}
    guid_prefix = f"tag:{settings.site_host},{settings.tag_date}:article:"
    [(last_before, _)] = db.xrevrange("nw:events", count=1) or [(b"0-0", None)]
    first_id = "(" + last_before.decode()
    builds_before = sum(run_.builds.values())
    tracker, stop = Tracker(), threading.Event()
    budget = PollBudget(200)
    threads = [
        threading.Thread(target=poll, args=(run_, s, tracker, 0.02, budget, stop), daemon=True)
        for s in feeds.values()
    ]
    publisher = threading.Thread(
        target=publish,
        args=(run_, factory, sections, [(feeds, tracker)], args.rate, count, guid_prefix),
        daemon=True,
    )
    killer = Killer(run_, args.kill_every, threading.Event())
    for thread in [*threads, publisher, killer]:
        thread.start()
    began = time.monotonic()
    progress = Progress("soak", every=5)
    start_memory = None
    while publisher.is_alive():
        publisher.join(timeout=0.5)
        if start_memory is None and time.monotonic() - began >= args.warmup:
            start_memory = sample_memory(run_, db)
        progress.update(
            f"{tracker.published:,}/{count:,} published, {tracker.sightings():,} seen, "
            f"{killer.kills} kills, {run_.restarts[KILLED]} restarts"
        )
    loaded = time.monotonic() - began
    killer.stop.set()
    killer.join(timeout=70)
    deadline = time.monotonic() + 60
    while run_.ready[KILLED] <= killer.kills and time.monotonic() < deadline:
        time.sleep(0.1)  # the last kill's worker up again, so its memory is a whole one
    end_memory = sample_memory(run_, db)
    start_memory = start_memory or end_memory
    before_kills = killer.rss_before_kill
    worker_rss = (
        [before_kills[0], before_kills[-1]]
        if len(before_kills) >= 2
        else [
            start_memory.worker,  # too short a run for two kills: the load's start and end
            end_memory.worker,
        ]
    )
    settle_began = time.monotonic()
    while busy(db) and time.monotonic() - settle_began < args.settle:
        progress.update(f"settling: {'; '.join(busy(db)[:3])}")
        time.sleep(0.2)
    settled = time.monotonic() - settle_began
    stop.set()
    for feed in feeds.values():
        feed.wake.set()
    for thread in threads:
        thread.join(timeout=5)

    outcome = check_events(db, first_id)
    events, processed = outcome.events, outcome.processed
    finished = sum(run_.builds.values()) - builds_before
    duplicates = sum(n - 1 for n in run_.builds.values() if n > 1)
    latencies = sorted(tracker.latencies["section"])
    unseen = tracker.pending()
    # An article never seen is later than any seen: it ranks above them all.
    ranked = latencies + [float("inf")] * unseen
    p50, p99 = percentile(ranked, 50), percentile(ranked, 99)
    in_rate = tracker.published / loaded if loaded else 0.0

    def ms(value: float) -> float | None:
        """Seconds as milliseconds; None for an article never seen."""
        return None if value == float("inf") else value * 1000

    say(
        f"after the load: settled in {settled:.1f}s; {len(tracker.put_errors)} PUT errors"
        + (f" (first: {tracker.put_errors[0]})" if tracker.put_errors else "")
    )
    if outcome.missed_by:
        kinds = Counter(t.partition(":")[0] for t in outcome.missed_by)
        say(f"targets not built past all their events: {len(outcome.missed_by):,} {dict(kinds)}")
    if killer.back_in:
        say(f"worker back (ready) after each kill: max {max(killer.back_in):.1f}s")
    return [
        Figure(
            "events in",
            events,
            note=f"({args.rate:g}/s for {args.duration:g}s)",
            at_least=0.95 * count,
            target=f"≥ 95% of {count:,}",
        ),
        Figure(
            "PUTs/s during the load",
            in_rate,
            unit="/s",
            spec=".1f",
            at_least=0.95 * args.rate,
            target=f"≥ 95% of {args.rate:g}/s",
        ),
        Figure(
            "fully processed",
            processed,
            note=f"({processed / events:.2%})" if events else "",
            # At least one event: a run in which none arrived processed nothing.
            at_least=max(events, 1),
            target="all",
        ),
        Figure("lost (a target idle, not built past it)", outcome.lost, at_most=0, target="0"),
        Figure(
            f"still owed a build after {args.settle:g}s settling",
            outcome.owed,
            at_most=0,
            target="0",
        ),
        Figure(
            "duplicate builds",
            duplicates,
            note=f"of {finished:,} finished builds",
            at_most=0,
            target="0",
        ),
        Figure("publish→feed p50", ms(p50), unit=" ms", missing="never seen"),
        Figure(
            "publish→feed p99",
            ms(p99),
            unit=" ms",
            missing="never seen",
            note=f"({unseen:,} never seen)" if unseen else "",
            at_most=TARGET_P99_MS,
        ),
        Figure("worker kills", killer.kills, at_least=1),
        Figure(
            "supervisor restarts",
            run_.restarts[KILLED],
            at_least=killer.kills,
            at_most=killer.kills,
            target="one per kill",
        ),
        memory_figure("worker RSS (before its first and last kill)", *worker_rss),
        memory_figure("feeds RSS", start_memory.feeds, end_memory.feeds),
        memory_figure(
            "redis RSS beyond its dataset",
            start_memory.redis_beyond_data,
            end_memory.redis_beyond_data,
        ),
        Figure(
            "redis RSS (grows with the data)",
            end_memory.redis_rss,
            unit=" MB",
            note=f"(from {start_memory.redis_rss:.0f} MB)",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
