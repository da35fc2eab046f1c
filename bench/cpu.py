"""CPU accounting for the benchmarks: the time each service and the load generator used.

Read from /proc, so on other systems the meter reports nothing.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from devstack.stack import Stack

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
