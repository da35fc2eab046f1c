"""Start a command that dies with its parent: `python launch.py <parent pid> <argv...>`.

Sets the Linux parent-death signal (SIGTERM, so a Celery worker still stops its pool and
valkey-server still shuts down cleanly), then execs the command in place: the process the
supervisor started is the service itself, and the signal survives the exec. A parent that
died before the signal was set is caught by comparing getppid() with the pid it was given.

The supervisor runs this rather than setting the signal in a preexec_fn, which is unsafe in
a process with threads. It imports nothing but the standard library, so it starts quickly
(even with -S -I).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def main(argv: list[str]) -> int:
    if len(argv) < 2 or not argv[0].isdigit():
        print("usage: launch.py <parent pid> <command> [args...]", file=sys.stderr)
        return 2
    parent, command = int(argv[0]), argv[1:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        print(f"prctl(PR_SET_PDEATHSIG): {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 1
    if os.getppid() != parent:  # the parent died between fork and prctl: nothing to run for
        return 1
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"cannot run {command[0]}: {exc}", file=sys.stderr)
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
