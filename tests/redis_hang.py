"""Hanging a test's own Redis: the process is stopped (SIGSTOP), so connections still open but
nothing is answered, as when a server is wedged; it moves again when the block ends."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from devstack.redis_server import RedisServer


@contextmanager
def hung(server: RedisServer) -> Iterator[None]:
    """`server` stopped in its tracks for the block: it accepts connections, answers nothing."""
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
