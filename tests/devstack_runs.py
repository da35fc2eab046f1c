"""`python -m devstack` (what `make run` runs) driven from tests, and what of it is left.

A run gets free ports for everything it listens on, so runs side by side (and whatever else
this machine runs, on the default ports too) never meet by accident. Whether a stopped run
left anything is read from /proc, three ways: the pids it started, their process groups, and
any process with its state folder on its command line or in its environment.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import requests

from devstack.redis_server import free_port
from devstack.services import ROOT

STARTED = re.compile(r"^\d\d:\d\d:\d\d (\S+) +\| started \(pid (\d+)\)$", re.MULTILINE)
BANNER = "Newswire is running."
METRICS_SERVICES = ("dispatcher", "worker", "card-worker", "push-worker")
PROC = Path("/proc")


@dataclass(frozen=True)
class Ports:
    ingest: int = field(default_factory=free_port)
    feeds: int = field(default_factory=free_port)
    metrics: dict[str, int] = field(
        default_factory=lambda: {name: free_port() for name in METRICS_SERVICES}
    )

    def env(self) -> dict[str, str]:
        env = {"NEWSWIRE_INGEST_PORT": str(self.ingest), "NEWSWIRE_FEEDS_PORT": str(self.feeds)}
        for name, port in self.metrics.items():
            env[f"NEWSWIRE_{name.replace('-', '_').upper()}_METRICS_PORT"] = str(port)
        return env

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.ingest}"

    @property
    def feeds_url(self) -> str:
        return f"http://127.0.0.1:{self.feeds}"

    def metrics_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.metrics[name]}/metrics"

    def not_answering(self, *, leave_out: tuple[str, ...] = ()) -> list[str]:
        """The services that do not answer yet: ingest and feeds over HTTP, the others
        through their metrics port."""
        checks = {
            "ingest": lambda: service_answers(self.ingest_url),
            "feeds": lambda: service_answers(self.feeds_url),
        }
        for name in METRICS_SERVICES:
            checks[name] = lambda n=name: answers(self.metrics_url(n))
        return [name for name, check in checks.items() if name not in leave_out and not check()]


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def service_answers(base: str) -> bool:
    """/readyz answers 200 (or /healthz does, where the service has no /readyz)."""
    try:
        status = requests.get(base + "/readyz", timeout=2).status_code
        if status == 404:
            status = requests.get(base + "/healthz", timeout=2).status_code
    except requests.RequestException:
        return False
    return status == 200


class Run:
    """`python -m devstack` in its own process group, its output collected as it comes."""

    def __init__(self, var: Path, ports: Ports | None = None, **settings: str) -> None:
        self.var = var
        self.ports = ports or Ports()
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
        env |= self.ports.env() | settings
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack", "--var", str(var)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def _collect(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self.output.append(line)

    def text(self) -> str:
        return "".join(self.output)

    def finished_text(self, timeout: float = 60) -> str:
        """All of the output of a run that exits by itself."""
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        return self.text()

    def pid(self, name: str) -> int | None:
        """The pid the supervisor last started `name` with."""
        found = [int(pid) for service, pid in STARTED.findall(self.text()) if service == name]
        return found[-1] if found else None

    def started(self) -> set[int]:
        """Every pid the supervisor started."""
        return {int(pid) for _, pid in STARTED.findall(self.text())}

    def lines_of(self, name: str) -> list[str]:
        prefix = re.compile(rf"^\d\d:\d\d:\d\d {re.escape(name)} +\| ")
        return [line for line in self.output if prefix.match(line)]

    def signal_group(self, sig: signal.Signals) -> None:
        """What a terminal does: Ctrl-C is SIGINT, closing it SIGHUP, to the whole group."""
        os.killpg(self.process.pid, sig)

    def interrupt(self) -> int:
        self.signal_group(signal.SIGINT)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        """Make sure nothing of the run is left, whatever a failed test left it doing."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in self.started():
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)


def _stat(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command: state, ppid, pgrp, ...; [] if gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return []
    return stat[stat.rfind(")") + 2 :].split()


def alive(pid: int) -> bool:
    """Running (a zombie is not: nothing on this machine may reap an orphan)."""
    fields = _stat(pid)
    return bool(fields) and fields[0] != "Z"


def _pids() -> list[int]:
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


def in_groups(pgids: set[int]) -> list[int]:
    found = []
    for pid in _pids():
        fields = _stat(pid)
        if fields and fields[0] != "Z" and int(fields[2]) in pgids:
            found.append(pid)
    return found


def naming(var: Path) -> list[int]:
    """Processes with `var` in their command line or environment (this one left out)."""
    needle = os.fsencode(var)
    found = []
    for pid in _pids():
        if pid == os.getpid() or not alive(pid):
            continue
        for part in ("cmdline", "environ"):
            with contextlib.suppress(OSError):
                if needle in (PROC / str(pid) / part).read_bytes():
                    found.append(pid)
                    break
    return found


def left_of(run: Run) -> list[str]:
    """What of `run` still runs, described; empty once it is all gone."""
    pids = run.started() | {run.process.pid}
    left = [f"pid {pid}" for pid in sorted(pids) if alive(pid)]
    left += [f"pid {pid} in a group of the stack" for pid in in_groups(pids)]
    left += [f"pid {pid} naming {run.var}" for pid in naming(run.var)]
    return left


def listeners(port: int) -> set[int]:
    """The pids of this user's processes listening on TCP `port`."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (PROC / "net" / table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{inode}]")
    found = set()
    for pid in _pids():
        with contextlib.suppress(OSError):
            for fd in (PROC / str(pid) / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        found.add(pid)
    return found
