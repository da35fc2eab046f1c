"""Which service sends Redis its commands: each client connection's counts, by process.

Redis's INFO gives totals; CLIENT LIST gives each connection's commands and bytes received
(`tot-cmds`, which counts the commands its scripts ran too, and `tot-net-in`) and its peer
address. The address's port names a socket, and /proc names the process holding that
socket, so each connection's counts add up under the service (process group) it belongs to.
A connection closed before the second snapshot is missing from the sum, so the figures are
lower bounds; "other" counts open connections that no service's process holds.

Redis counts no round trips per connection. `RoundTripSampler` counts them from outside:
strace on the server, for a few seconds, counts its read() calls on each client's socket
(one per round trip, a pipeline being one), and CLIENT LIST's `fd` names the client. Tracing
slows the server's every read, so it is asked for (`--round-trips`), not done by default.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_FIELD = re.compile(r"(\S+?)=(\S*)")
_SOCKET = re.compile(r"socket:\[(\d+)\]")


@dataclass(frozen=True)
class Connection:
    id: int
    port: int
    commands: int
    bytes_in: int
    fd: int = -1


def connections(db: Any) -> list[Connection]:
    """The clients connected over TCP, with the counts Redis keeps for each."""
    out = []
    for line in db.execute_command("CLIENT", "LIST").decode().splitlines():
        fields = dict(_FIELD.findall(line))
        host, _, port = fields.get("addr", "").rpartition(":")
        if not host or not port.isdigit():
            continue  # a unix socket
        out.append(
            Connection(
                int(fields["id"]),
                int(port),
                int(fields.get("tot-cmds", 0)),
                int(fields.get("tot-net-in", 0)),
                int(fields.get("fd", -1)),
            )
        )
    return out


def _socket_ports() -> dict[int, int]:
    """Socket inode → local TCP port, for every TCP socket of this machine."""
    ports: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            ports[int(cols[9])] = int(cols[1].rpartition(":")[2], 16)
    return ports


def _group_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[2])
    except (OSError, ValueError, IndexError):
        return None


def port_owners(groups: Mapping[int, str]) -> dict[int, str]:
    """Local TCP port → the name of the process group (a service) holding its socket."""
    ports = _socket_ports()
    owners: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        name = groups.get(_group_of(int(entry.name)) or -1)
        if name is None:
            continue
        try:
            fds = os.listdir(entry / "fd")
        except OSError:
            continue
        for fd in fds:
            try:
                match = _SOCKET.match(os.readlink(entry / "fd" / fd))
            except OSError:
                continue
            if match and int(match.group(1)) in ports:
                owners[ports[int(match.group(1))]] = name
    return owners


@dataclass
class ClientCounts:
    """Redis commands and bytes received, by service, between `start` and `stop`.

    `groups` maps a process group id to its service's name; this process is "bench client".
    """

    db: Any
    groups: dict[int, str]
    before: dict[int, Connection] = field(default_factory=dict)
    commands: Counter[str] = field(default_factory=Counter)
    bytes_in: Counter[str] = field(default_factory=Counter)

    def start(self) -> ClientCounts:
        self.before = {c.id: c for c in connections(self.db)}
        return self

    def stop(self) -> ClientCounts:
        now = connections(self.db)
        owners = port_owners(self.groups)
        for c in now:
            was = self.before.get(c.id)
            name = owners.get(c.port, "other")
            self.commands[name] += c.commands - (was.commands if was else 0)
            self.bytes_in[name] += c.bytes_in - (was.bytes_in if was else 0)
        return self

    def line(self, articles: int) -> str:
        per = max(articles, 1)
        return "redis:   commands per article by service, their scripts' included: " + (
            ", ".join(
                f"{name} {n / per:.1f} ({self.bytes_in[name] / per / 1000:.1f} KB in)"
                for name, n in self.commands.most_common()
            )
        )


def stack_groups(stack: Any) -> dict[int, str]:
    """Process group id → service name for a running stack, and this process."""
    groups = {process.pid: name for name, process in stack.processes.running.items()}
    groups[os.getpgrp()] = "bench client"
    return groups


_READ = re.compile(rb"^(?:\d+ +)?read\((\d+),", re.MULTILINE)


class RoundTripSampler:
    """Counts `seconds` of each service's round trips to Redis in a thread, starting `after`
    seconds from now: the server's read() calls on each client's socket, by strace."""

    def __init__(self, db: Any, groups: dict[int, str], after: float, seconds: float) -> None:
        if shutil.which("strace") is None:
            raise SystemExit("--round-trips needs strace: run `make bench-tools`")
        self.seconds = seconds
        self.reads: Counter[str] = Counter()
        self._thread = threading.Thread(
            target=self._run, args=(db, groups, after), name="round trips", daemon=True
        )

    def start(self) -> RoundTripSampler:
        self._thread.start()
        return self

    def join(self) -> RoundTripSampler:
        self._thread.join()
        return self

    def _run(self, db: Any, groups: dict[int, str], after: float) -> None:
        time.sleep(max(after, 0.0))
        pid = int(db.info("server")["process_id"])
        with tempfile.NamedTemporaryFile(suffix=".strace") as out:
            tracer = subprocess.Popen(
                ["strace", "-f", "-e", "trace=read", "-o", out.name, "-p", str(pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(self.seconds)
            tracer.terminate()
            tracer.wait()
            reads = Counter(int(fd) for fd in _READ.findall(Path(out.name).read_bytes()))
        owners = port_owners(groups)
        by_fd = {c.fd: owners.get(c.port, "other") for c in connections(db)}
        for fd, n in reads.items():
            self.reads[by_fd.get(fd, "other")] += n

    def line(self, rate: float) -> str:
        """Round trips a second by service, and per article at `rate` articles a second."""
        total = sum(self.reads.values())
        if not total:
            return (
                "redis:   strace counted no reads of Redis's: it may not trace another "
                "process here (run as root, or set kernel.yama.ptrace_scope to 0)"
            )
        per_s = {name: n / self.seconds for name, n in self.reads.items()}
        return (
            f"redis:   round trips by service (reads from its sockets, strace over "
            f"{self.seconds:g} s), a second and per article: "
            + ", ".join(
                f"{name} {per_s[name]:,.0f}/s, {per_s[name] / rate:.1f}"
                for name, _ in self.reads.most_common()
            )
            + f"; in all {total / self.seconds:,.0f}/s, {total / self.seconds / rate:.1f}"
        )
