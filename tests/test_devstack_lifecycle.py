"""Two `make run` stacks on one machine: each has its own folder and ports (metrics ports
too, from settings), says it is running only once every service answers, and is what its
ports show. A second run on a running stack's folder, or on a port a stack holds, is refused
before it starts anything. Closing the terminal (SIGHUP) and SIGTERM stop every process.

Ctrl-C and killing the supervisor are in tests/test_devstack.py, on the stacks it starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import requests

from devstack.services import ROOT
from tests.conftest import wait_until
from tests.devstack_runs import (
    BANNER,
    METRICS_SERVICES,
    STARTED,
    Ports,
    Run,
    answers,
    left_of,
    listeners,
)

pytestmark = pytest.mark.processes

# What a second run on a folder would rewrite or recreate, were it to start anything.
KEPT = (
    "dev-api-key",
    "devstack.lock",
    "newswire.env",
    "redis.sock",
    "redis/appendonlydir/appendonly.aof.manifest",
)


def read_env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def snapshot(var: Path) -> dict[str, tuple[int, int, int]]:
    stats = {name: (var / name).stat() for name in KEPT}
    return {name: (stat.st_ino, stat.st_mtime_ns, stat.st_size) for name, stat in stats.items()}


def banner_waits_for_every_service(run: Run) -> None:
    """With the card worker held (SIGSTOP) before it can come up, everything else answers
    and still no banner; let go, it comes up and the banner follows."""
    card_worker = wait_until(lambda: run.pid("card-worker"), timeout=60, interval=0.01)
    os.kill(card_worker, signal.SIGSTOP)
    try:
        wait_until(lambda: not run.ports.not_answering(leave_out=("card-worker",)), 60, 0.1)
        assert run.ports.not_answering() == ["card-worker"], run.text()[-3000:]
        assert BANNER not in run.text()
    finally:
        os.kill(card_worker, signal.SIGCONT)
    wait_until(lambda: BANNER in run.text(), timeout=60, interval=0.1)


def each_stack_is_its_own(run: Run) -> None:
    """Every port of the stack is held by a process it started; its feeds link to itself;
    var/newswire.env names its Redis, which answers."""
    assert not run.ports.not_answering()
    for name in ("ingest", "feeds"):
        port = getattr(run.ports, name)
        assert listeners(port) and listeners(port) <= run.started(), (name, port)
    for name in METRICS_SERVICES:
        port = run.ports.metrics[name]
        assert listeners(port) and listeners(port) <= run.started(), (name, port)
        assert answers(run.ports.metrics_url(name))
    feed = f"{run.ports.feeds_url}/feeds/sections/dunya.rss"
    wait_until(lambda: "Şansımız var" in requests.get(feed, timeout=2).text, 60, 0.25)
    assert f"{run.ports.feeds_url}/" in requests.get(feed, timeout=2).text
    env = read_env_file(run.var / "newswire.env")
    assert env["NEWSWIRE_REDIS_URL"] == f"unix://{run.var / 'redis.sock'}"
    assert env["NEWSWIRE_ARTIFACT_DIR"] == str(run.var / "artifacts")
    assert env["NEWSWIRE_FEEDS_PORT"] == str(run.ports.feeds)
    assert env["NEWSWIRE_DISPATCHER_METRICS_PORT"] == str(run.ports.metrics["dispatcher"])
    client = redis.Redis.from_url(env["NEWSWIRE_REDIS_URL"])
    try:
        assert client.ping()
    finally:
        client.close()


def service(module: str, **settings: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")} | settings
    return subprocess.Popen(
        [sys.executable, "-m", module],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def second_run_and_taken_ports_are_refused(a: Run, b: Run, tmp_path: Path) -> None:
    kept = snapshot(a.var)
    started = len(STARTED.findall(a.text()))
    # The same checkout again (same folder, same settings); stacks of their own on a port a
    # stack holds (the feeds port granian holds with SO_REUSEPORT, a worker's metrics port);
    # and the feeds and ingest services themselves on ports a stack holds.
    again = Run(a.var, a.ports, NEWSWIRE_INGEST_WORKERS="1")
    on_feeds = Run(tmp_path / "c", Ports(feeds=a.ports.feeds))
    taken_metrics = {**Ports().metrics, "worker": b.ports.metrics["worker"]}
    on_metrics = Run(tmp_path / "d", Ports(metrics=taken_metrics))
    feeds = service("services.feeds", NEWSWIRE_FEEDS_PORT=str(a.ports.feeds))
    ingest = service("services.ingest", NEWSWIRE_INGEST_PORT=str(a.ports.ingest))

    message = one_line(again.finished_text())
    assert again.process.returncode != 0
    pid = a.process.pid
    assert f"(pid {pid})" in message and f"`kill {pid}`" in message and "Ctrl-C" in message

    for run, port, setting in (
        (on_feeds, a.ports.feeds, "NEWSWIRE_FEEDS_PORT"),
        (on_metrics, b.ports.metrics["worker"], "NEWSWIRE_WORKER_METRICS_PORT"),
    ):
        message = one_line(run.finished_text())
        assert run.process.returncode != 0
        assert f"port {port} " in message and setting in message, message
        assert not (run.var / "redis").exists() and not (run.var / "dev-api-key").exists()

    for process, port, setting in (
        (feeds, a.ports.feeds, "NEWSWIRE_FEEDS_PORT"),
        (ingest, a.ports.ingest, "NEWSWIRE_INGEST_PORT"),
    ):
        output, _ = process.communicate(timeout=60)
        assert process.returncode != 0, output
        last = output.strip().splitlines()[-1]
        assert f"port {port} " in last and setting in last, output

    assert snapshot(a.var) == kept  # nothing rewritten, no second valkey-server
    assert len(STARTED.findall(a.text())) == started  # nothing of it restarted
    assert not a.ports.not_answering()


# Two stacks cost several CPU-seconds each to start: they start together, show everything
# here, and are then stopped the two ways left over from tests/test_devstack.py.
def test_two_stacks_side_by_side_refuse_a_second_run_and_taken_ports_and_stop(tmp_path: Path):
    a = Run(tmp_path / "a", NEWSWIRE_INGEST_WORKERS="1")
    b = Run(tmp_path / "b", NEWSWIRE_INGEST_WORKERS="1")
    try:
        banner_waits_for_every_service(b)
        wait_until(lambda: BANNER in a.text(), timeout=60, interval=0.1)
        for run in (a, b):
            each_stack_is_its_own(run)
        second_run_and_taken_ports_are_refused(a, b, tmp_path)

        a.signal_group(signal.SIGHUP)  # the terminal closed
        b.signal_group(signal.SIGTERM)
        for run in (a, b):
            assert run.process.wait(timeout=60) == 0
            wait_until(lambda r=run: not left_of(r), timeout=30, interval=0.1)
            assert not (run.var / "newswire.env").exists()
            assert not (run.var / "redis.sock").exists()
    finally:
        a.kill()
        b.kill()
