"""Names unique across processes, made without asking the kernel for randomness each time:
a random tag drawn once per process, and a count."""

from __future__ import annotations

import itertools
import os


class ProcessNames:
    """`tag` (random hex, `tag_bytes` long) and `next()` (0, 1, 2, ...). A forked child (a
    server's or Celery's worker process) draws a tag and a count of its own."""

    def __init__(self, tag_bytes: int) -> None:
        self._tag_bytes = tag_bytes
        self._start()
        os.register_at_fork(after_in_child=self._start)

    def _start(self) -> None:
        self.tag = os.urandom(self._tag_bytes).hex()
        self._count = itertools.count()

    def next(self) -> int:
        return next(self._count)
