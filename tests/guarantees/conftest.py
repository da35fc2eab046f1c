"""Helpers for the delivery guarantees: stacks with chosen processes, quiescence, snapshots of
what the feeds service serves, and seeded articles."""

from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from devstack.services import commands, wait_http
from devstack.stack import Stack, every_queue
from tests.conftest import API_KEY, API_KEYS, Databases, database, wait_until
from tests.guarantees.slow_kinds import SPECS

SECTIONS = ("Dünya", "Ekonomi", "Spor")
TAGS = ("NATO", "Borsa", "Türkiye", "İstanbul")
AUTHORS = ("Dış Haberler Servisi", "Ayşe Yılmaz")
SITE = "https://haber.example.com.tr"
WORKERS = ("worker", "card-worker", "push-worker")


@pytest.fixture
def rng() -> random.Random:
    """Seeded randomness; NEWSWIRE_TEST_SEED replays a failure."""
    seed = int(os.environ.get("NEWSWIRE_TEST_SEED") or random.SystemRandom().randrange(2**32))
    print(f"\nseed {seed} (NEWSWIRE_TEST_SEED={seed} replays it)")
    return random.Random(seed)


def clock_ahead(argv: list[str], seconds: float) -> list[str]:
    """`argv` of a `python -m MODULE ...` command, run with its clock `seconds` ahead."""
    python, flag, module, *args = argv
    assert flag == "-m", argv
    return [python, "-m", "tests.guarantees.clock_ahead", str(seconds), module, *args]


def start_stack(
    root: Path,
    redis_url: str | None = None,
    *,
    clock_ahead_s: float = 0,
    extra_workers: int = 0,
    extra_card_workers: int = 0,
    compact: bool = True,
    **overrides: str,
) -> Stack:
    """A stack like `make_stack`'s (on `redis_url`, or a server of its own, compact unless
    told otherwise); with `clock_ahead_s`, the dispatcher and every worker run with their
    clocks that far ahead; `extra_workers` more workers like the first and
    `extra_card_workers` more card workers (their clocks shifted alike)."""
    overrides = {"NEWSWIRE_BUILD_LEASE_MS": "3000", "NEWSWIRE_CLAIM_IDLE_MS": "2000", **overrides}
    stack = Stack(root, API_KEYS, API_KEY, redis_url, compact=compact, **overrides)
    argvs = commands()
    workers = ("worker",) if compact else WORKERS
    if compact:
        argvs["worker"] = every_queue(argvs["worker"])
    shifted = ("dispatcher", *workers)
    for name in ("ingest", "dispatcher", *workers, "feeds"):
        argv = argvs[name]
        shift = clock_ahead_s and name in shifted
        stack.processes.start(name, clock_ahead(argv, clock_ahead_s) if shift else argv)
    for kind, count in (("worker", extra_workers), ("card-worker", extra_card_workers)):
        for number in range(2, count + 2):
            argv = [*argvs[kind][:-2], "--hostname", f"{kind}{number}-{os.getpid()}@%h"]
            shift = clock_ahead(argv, clock_ahead_s) if clock_ahead_s else argv
            stack.processes.start(f"{kind}{number}", shift)
    wait_http(stack.ingest_url + "/healthz", process=stack.processes.running["ingest"])
    wait_http(stack.feeds_url + "/healthz", process=stack.processes.running["feeds"])
    for name in stack.processes.running:
        if name.startswith(("worker", "card-worker", "push-worker")):
            wait_until(lambda n=name: "ready." in stack.processes.log(n), 30, 0.1)
    return stack


@pytest.fixture(scope="session")
def guarantee_stack(
    tmp_path_factory: pytest.TempPathFactory, databases: Databases
) -> Iterator[Stack]:
    """One stack for the ordering, idempotency and takedown guarantees, each with articles of
    its own: three workers (two builds at once of one target, or two slow builds and the rest),
    a short debounce window, and builds a test can slow down (tests/guarantees/slow_kinds.py;
    unarmed, they build as the real kinds do)."""
    with database(databases) as url:
        stack = start_stack(
            tmp_path_factory.mktemp("guarantees"),
            url,
            extra_workers=2,
            NEWSWIRE_DEBOUNCE_WINDOW_MS="50",
            NEWSWIRE_EXTRA_KINDS=json.dumps(SPECS),
        )
        try:
            yield stack
        finally:
            stack.stop()


def redis_of(stack: Stack) -> redis.Redis:
    return redis.Redis.from_url(stack.env["NEWSWIRE_REDIS_URL"])


def now_ms(db: redis.Redis) -> int:
    seconds, micros = db.time()
    return seconds * 1000 + micros // 1000


def settled(db: redis.Redis, stream: str = "nw:events", group: str = "render") -> bool:
    """Every event read and acknowledged, and no target queued, building or cooling."""
    if db.zcard("nw:due"):
        return False
    try:
        last = db.xinfo_stream(stream)["last-generated-id"]
        groups = {g["name"]: g for g in db.xinfo_groups(stream)}
    except redis.ResponseError:
        return False
    found = groups.get(group.encode())
    return bool(found) and found["pending"] == 0 and found["last-delivered-id"] == last


def wait_settled(db: redis.Redis, timeout: float = 10) -> None:
    wait_until(lambda: settled(db), timeout, 0.01)


@dataclass(frozen=True)
class Served:
    """One response of the feeds service, as a reader or crawler sees it."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


_HEADERS = ("content-type", "content-length", "etag", "last-modified", "cache-control")


def fetch(http: requests.Session, url: str) -> Served:
    response = http.get(url, headers={"Accept-Encoding": "identity"}, timeout=5)
    headers = tuple((name, response.headers.get(name, "")) for name in _HEADERS)
    return Served(response.status_code, headers, response.content)


def snapshot(base: str, paths: list[str]) -> dict[str, Served]:
    """Bytes and headers of every path, as served now (fetched side by side)."""
    local = threading.local()

    def get(path: str) -> Served:
        if not hasattr(local, "http"):
            local.http = requests.Session()
        return fetch(local.http, f"{base}/{path}")

    with ThreadPoolExecutor(max_workers=6) as pool:
        return dict(zip(paths, pool.map(get, paths), strict=True))


def differences(before: dict[str, Served], after: dict[str, Served]) -> list[str]:
    """What changed between two snapshots, path by path (empty: byte-identical)."""
    changed = []
    for path in before:
        old, new = before[path], after[path]
        if old != new:
            delta = [n for (n, v), (_, w) in zip(old.headers, new.headers, strict=True) if v != w]
            body = "body" if old.body != new.body else ""
            changed.append(f"{path}: status {old.status}->{new.status} {body} {delta}")
    return changed


def feed_paths(slugs: dict[str, list[str]]) -> list[str]:
    """Every format of the site-wide feed and of the named section/tag/author feeds."""
    stems = ["feeds/all"] + [
        f"feeds/{kind}/{slug}" for kind, names in slugs.items() for slug in names
    ]
    return [f"{stem}.{fmt}" for stem in stems for fmt in ("rss", "atom", "json", "html")]


def article(
    ident: str,
    published: datetime,
    *,
    title: str,
    section: str = SECTIONS[0],
    tags: tuple[str, ...] = (),
    authors: tuple[str, ...] = (),
    updated: datetime | None = None,
) -> dict[str, Any]:
    """An article as a newsroom system sends it."""
    raw: dict[str, Any] = {
        "id": ident,
        "url": f"{SITE}/{ident}",
        "title": title,
        "summary": f"Özet: {title}",
        "body_html": f"<p>{title} — ayrıntılar geliyor.</p>",
        "section": section,
        "tags": list(tags),
        "authors": [{"name": name} for name in authors],
        "published_at": iso(published),
    }
    if updated is not None:
        raw["updated_at"] = iso(updated)
    return raw


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
