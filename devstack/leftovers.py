"""The processes of a stack on a state folder, found by what they carry rather than by pid.

A stack's processes carry its folder: the supervisor gives every service MARKER=<folder> in
its environment, valkey-server names its socket on its command line (or title), and
services started before MARKER existed have their artifact folder in their environment. A
new run waits for those of an earlier stack to finish stopping (its supervisor was killed,
so they are getting their parent-death signal) and refuses to start beside any that stay,
e.g. a second valkey-server on the same append-only file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

MARKER = "DEVSTACK_VAR"
PROC = Path("/proc")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # gone meanwhile, or another user's
        return b""


def _is_zombie(pid_dir: Path) -> bool:
    stat = _read(pid_dir / "stat")
    # "pid (command) state ...": the command may hold spaces and parentheses.
    return stat[stat.rfind(b")") + 2 :][:1] == b"Z"


def _ancestors() -> set[int]:
    found, pid = set(), os.getpid()
    while pid > 1 and pid not in found:
        found.add(pid)
        stat = _read(PROC / str(pid) / "stat")
        fields = stat[stat.rfind(b")") + 2 :].split()
        pid = int(fields[1]) if len(fields) > 1 else 0
    return found


def belongs_to(var: Path, cmdline: bytes, environ: list[bytes]) -> bool:
    # valkey-server overwrites its environment with its process title, which names its
    # socket ("valkey-server unixsocket:/…/var/redis.sock"), as its arguments did.
    if os.fsencode(var / "redis.sock") in cmdline:
        return True
    marks = {
        f"{MARKER}={var}".encode(),
        f"NEWSWIRE_ARTIFACT_DIR={var / 'artifacts'}".encode(),
    }
    return not marks.isdisjoint(environ)


def stack_processes(var: Path) -> list[int]:
    """Live processes of a stack on `var` (this process and its ancestors left out)."""
    if not PROC.is_dir():
        return []
    mine = _ancestors()
    found = []
    for pid_dir in PROC.iterdir():
        if not pid_dir.name.isdigit() or int(pid_dir.name) in mine:
            continue
        cmdline = _read(pid_dir / "cmdline")
        environ = _read(pid_dir / "environ").split(b"\0")
        if belongs_to(var, cmdline, environ) and not _is_zombie(pid_dir):
            found.append(int(pid_dir.name))
    return sorted(found)


def wait_gone(var: Path, timeout: float) -> list[int]:
    """Wait up to `timeout` seconds for the processes of a stack on `var` to exit; returns
    those still running."""
    deadline = time.monotonic() + timeout
    while (left := stack_processes(var)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def describe(pids: list[int]) -> str:
    """ "123 (valkey-server), 124 (python)": pids with their command names."""
    names = (_read(PROC / str(pid) / "comm").decode(errors="replace").strip() for pid in pids)
    return ", ".join(f"{pid} ({name or '?'})" for pid, name in zip(pids, names, strict=True))
