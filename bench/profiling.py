"""Profiling the stack's services with py-spy during a measurement, and summing its samples."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from bench.report import say
from devstack.stack import Stack


def py_spy() -> str:
    """The py-spy executable, or exit saying how to install it."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not os.access(exe, os.X_OK):
        raise SystemExit("--profile needs py-spy: run `.venv/bin/pip install py-spy`")
    return exe


def stack_pids(stack: Stack, services: Iterable[str]) -> dict[str, int]:
    """The process ids of the stack's `services`, by name, for a `Profiler`."""
    return {name: stack.processes.running[name].pid for name in services}


class Profiler:
    """Samples processes (the stack's services, or a benchmark's own) with py-spy during a
    measurement, if asked to.

    Writes one collapsed-stack file per process (`<dir>/<name>.txt`, flamegraph.pl input)
    and prints the functions that hold most samples. py-spy is not a project dependency:
    `.venv/bin/pip install py-spy`.
    """

    def __init__(self, out_dir: Path | None, pids: Mapping[str, int]) -> None:
        self.out_dir = out_dir
        self.pids = pids
        self._running: list[tuple[str, Path, subprocess.Popen[bytes]]] = []

    def start(self) -> Profiler:
        if self.out_dir is None:
            return self
        exe = py_spy()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
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
