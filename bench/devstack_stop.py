"""How long `make run`'s stack takes to be gone after each way it is stopped.

.venv/bin/python -m bench.devstack_stop [--only sigint|sigterm|sighup|sigkill]

Each way gets a `python -m devstack` of its own (on a temporary folder and free ports), is
stopped once the stack says it is running, and is timed until none of its processes is left:
the supervisor, the pids it started, and anything carrying the folder (Celery's pool children
included). SIGINT, SIGTERM and SIGHUP go to the run's process group, as a terminal sends
them; SIGKILL goes to the supervisor alone, so the services stop on their parent-death signal.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.cli import run_main
from bench.report import Figure, say
from bench.stacks import StackFailed
from devstack.leftovers import stack_processes
from devstack.services import METRICS_SETTINGS, ROOT, setting_variable

TARGET_S = 10.0
START_TIMEOUT_S = 120.0
STARTED = re.compile(r"\| started \(pid (\d+)\)$", re.MULTILINE)
WAYS = {
    "sigint": (signal.SIGINT, "group"),
    "sigterm": (signal.SIGTERM, "group"),
    "sighup": (signal.SIGHUP, "group"),
    "sigkill": (signal.SIGKILL, "supervisor"),
}


def free_ports(count: int) -> list[int]:
    """`count` different free ports (held together while chosen, so none comes twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's may wait long for a reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :][:1] != "Z"


def time_stop(way: str, root: Path) -> tuple[float, float]:
    """(seconds to the banner, seconds from the signal until nothing of the stack is left).

    Raises:
        StackFailed: the stack did not come up.
    """
    sig, target = WAYS[way]
    var = root / way
    ports = free_ports(6)
    fields = ["ingest_port", "feeds_port", *METRICS_SETTINGS.values()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    env |= {setting_variable(f): str(p) for f, p in zip(fields, ports, strict=True)}
    output: list[str] = []
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "--var", str(var)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        while "Newswire is running." not in "".join(output):
            if process.poll() is not None or time.monotonic() - started > START_TIMEOUT_S:
                tail = "".join(output[-20:])
                raise StackFailed(f"`python -m devstack` did not come up:\n{tail}")
            time.sleep(0.05)
        up = time.monotonic() - started
        pids = {int(pid) for pid in STARTED.findall("".join(output))} | {process.pid}
        signalled = time.monotonic()
        if target == "group":
            os.killpg(process.pid, sig)
        else:
            os.kill(process.pid, sig)
        while True:
            process.poll()  # reaps the supervisor once it exits
            if not any(running(pid) for pid in pids) and not stack_processes(var):
                return up, time.monotonic() - signalled
            if time.monotonic() - signalled > 6 * TARGET_S:
                return up, float("inf")
            time.sleep(0.02)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run(args: argparse.Namespace) -> list[Figure]:
    figures = []
    with tempfile.TemporaryDirectory(prefix="newswire-bench-devstack-") as tmp:
        for way in args.only or list(WAYS):
            up, gone = time_stop(way, Path(tmp))
            say(f"{way}: up in {up:.1f} s, gone {gone:.2f} s after the signal")
            figures.append(
                Figure(
                    f"make run, {way}: last process gone after",
                    gone,
                    unit=" s",
                    spec=".2f",
                    at_most=TARGET_S,
                )
            )
            figures.append(Figure(f"make run, {way}: banner after", up, unit=" s", spec=".1f"))
    return figures


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.devstack_stop", description=__doc__.splitlines()[0]
    )
    p.add_argument("--only", action="append", choices=list(WAYS), help="just this way (repeatable)")
    return p


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
