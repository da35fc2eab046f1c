"""A process supervisor for `make run`: prefixed output, compose-style restarts, Ctrl-C stops all.

Each service runs in its own session (so a Celery worker and its pool children form one
process group) and is restarted whenever it exits, whatever its exit status, until the
supervisor itself is stopped: compose's `restart: unless-stopped`. A crash loop backs off
the way Docker's does: the delay doubles with each consecutive restart up to a ceiling, and
starts over once the service has stayed up for a while.

SIGINT, SIGTERM and SIGHUP (the terminal closed) stop every service. A supervisor that dies
without stopping them (SIGKILL) takes them along all the same: on Linux each is started with
a parent-death signal (devstack/launch.py). The kernel sends it when the *thread* that forked
the service exits, so services are started from the main thread only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

LAUNCHER = Path(__file__).with_name("launch.py")
# SIGTERM to SIGKILL: services, then the database. Together well under 10 s, so a stopped
# stack is gone within that whatever hangs.
STOP_TIMEOUT_S = 6.0
STOP_LAST_TIMEOUT_S = 3.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class RestartPolicy:
    """Delays between restarts: `first_delay_s`, doubled per consecutive crash up to
    `max_delay_s`; a run of `reset_after_s` or longer counts as healthy again."""

    first_delay_s: float = 0.5
    max_delay_s: float = 30.0
    reset_after_s: float = 10.0

    def delay(self, consecutive: int) -> float:
        return min(self.first_delay_s * 2 ** max(consecutive - 1, 0), self.max_delay_s)


@dataclass
class Service:
    name: str
    argv: list[str]
    env: Mapping[str, str] | None
    cwd: Path | None
    stop_last: bool
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    consecutive: int = 0
    restart_at: float | None = None
    readers: list[threading.Thread] = field(default_factory=list)


def dies_with_parent(argv: list[str]) -> list[str]:
    """`argv`, run through the launcher that makes it die with this process (Linux only)."""
    if not sys.platform.startswith("linux"):
        return list(argv)
    # -I -S: the launcher needs nothing but the standard library; skip site's start-up cost.
    return [sys.executable, "-I", "-S", str(LAUNCHER), str(os.getpid()), *argv]


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        return f"signal {-returncode}"
    return f"status {returncode}"


class Supervisor:
    """Runs services until SIGINT, SIGTERM or SIGHUP, restarting any that exit."""

    def __init__(self, out: IO[str] = sys.stdout, policy: RestartPolicy = RestartPolicy()) -> None:
        self.out = out
        self.policy = policy
        self.services: dict[str, Service] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._width = 6

    def add(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stop_last: bool = False,
    ) -> None:
        """Register a service; `stop_last` ones (the database) stop after all the others."""
        self.services[name] = Service(name, argv, env, cwd, stop_last)
        self._width = max(self._width, len(name))

    def say(self, name: str, line: str) -> None:
        """One line on behalf of `name`, stamped and prefixed."""
        stamp = time.strftime("%H:%M:%S")
        self.write(f"{stamp} {name.ljust(self._width)} | {line}\n")

    def write(self, text: str) -> None:
        """Text as it is, between the services' lines."""
        # A closed terminal must not stop the relays (a child blocks on a full pipe) nor the
        # shutdown: its output is dropped instead.
        with self._lock, contextlib.suppress(OSError, ValueError):
            self.out.write(text)
            self.out.flush()

    def stop(self) -> None:
        """Ask `run()` to stop every service and return (what Ctrl-C does)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def all_running(self) -> bool:
        """Every service has a live process and none is waiting to be restarted."""
        return all(
            service.process is not None
            and service.process.returncode is None
            and service.restart_at is None
            for service in self.services.values()
        )

    def run(self) -> int:
        """Start every service and supervise them until stopped; returns the exit status."""
        previous = {
            sig: signal.signal(sig, lambda *_: self._stopping.set()) for sig in STOP_SIGNALS
        }
        try:
            for service in self.services.values():
                self._start(service)
            while not self._stopping.wait(0.1):
                for service in self.services.values():
                    self._check(service)
        finally:
            # A second Ctrl-C while stopping kills at once instead of waiting.
            signal.signal(signal.SIGINT, lambda *_: self._kill_all())
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def _start(self, service: Service) -> None:
        # From the main thread only (run() and _check()): see the module's docstring.
        env = None if service.env is None else dict(service.env)
        service.process = subprocess.Popen(
            dies_with_parent(service.argv),
            env=env,
            cwd=service.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        service.started_at = time.monotonic()
        service.restart_at = None
        self.say(service.name, f"started (pid {service.process.pid})")
        reader = threading.Thread(target=self._relay, args=(service, service.process), daemon=True)
        reader.start()
        service.readers.append(reader)

    def _relay(self, service: Service, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            self.say(service.name, raw.decode(errors="replace").rstrip("\n"))
        process.stdout.close()

    def _check(self, service: Service) -> None:
        process = service.process
        now = time.monotonic()
        if service.restart_at is not None:
            if now >= service.restart_at:
                self._start(service)
            return
        if process is None or process.poll() is None:
            return
        # Whatever the leader left behind (a Celery pool child) goes with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        if now - service.started_at >= self.policy.reset_after_s:
            service.consecutive = 0
        service.consecutive += 1
        service.restarts += 1
        delay = self.policy.delay(service.consecutive)
        service.restart_at = now + delay
        self.say(
            "supervisor",
            f"{service.name} exited ({describe_exit(process.returncode)}); "
            f"restarting in {delay:.1f} s (restart {service.restarts})",
        )

    def _stop_all(self) -> None:
        first = [s for s in self.services.values() if not s.stop_last]
        last = [s for s in self.services.values() if s.stop_last]
        for group, timeout in ((first, STOP_TIMEOUT_S), (last, STOP_LAST_TIMEOUT_S)):
            for service in group:
                self._signal(service, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for service in group:
                if service.process is None:
                    continue
                try:
                    service.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    self.say(
                        "supervisor", f"{service.name} did not stop in {timeout:.0f} s; killing it"
                    )
                self._signal(service, signal.SIGKILL)
                service.process.wait()
        for service in self.services.values():
            for reader in service.readers:
                reader.join(timeout=2)

    def _kill_all(self) -> None:
        for service in self.services.values():
            self._signal(service, signal.SIGKILL)

    @staticmethod
    def _signal(service: Service, sig: signal.Signals) -> None:
        if service.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(service.process.pid, sig)
