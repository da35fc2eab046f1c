"""One `make run` per state folder: an flock'd file in it, held for the supervisor's life.

The kernel lets go of the lock when the process ends however it ends (SIGKILL too), so a
lock is never stale. The holder's pid is written inside, for the message a second run shows.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

LOCK_FILE = "devstack.lock"


class StackRunning(Exception):
    """Another supervisor holds the folder; the message names its pid and how to stop it."""


class StackLock:
    def __init__(self, var: Path) -> None:
        self.path = var / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock and write this process's pid in it.

        Raises:
            StackRunning: another process holds it; nothing was written.
        """
        # Not O_TRUNC: the holder's pid must stay readable to whoever fails to get the lock.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._holder(fd)
            os.close(fd)
            raise StackRunning(
                f"a Newswire stack is already running on {self.path.parent} (pid {holder}): "
                f"stop it with Ctrl-C in its terminal or `kill {holder}` (a second stack "
                "beside it needs `python -m devstack --var <another folder>` and other ports)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None

    @staticmethod
    def _holder(fd: int, wait_s: float = 1.0) -> str:
        """The pid in the file; its holder may be between taking the lock and writing it."""
        deadline = time.monotonic() + wait_s
        while True:
            with contextlib.suppress(OSError):
                text = os.pread(fd, 32, 0).decode(errors="replace").strip()
                if text.isdigit():
                    return text
            if time.monotonic() > deadline:
                return "unknown"
            time.sleep(0.05)
