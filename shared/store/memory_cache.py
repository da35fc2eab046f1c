"""A memory cache of artifacts bounded by bytes: hot feeds stay in memory, cold cards leave."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

from shared.artifacts import Artifact

K = TypeVar("K")


def size_of(artifact: Artifact) -> int:
    return len(artifact.body) + len(artifact.gzip or b"") + len(artifact.br or b"")


class ArtifactCache(Generic[K]):
    """Least recently used entries go first once the total passes `max_bytes`.

    Each entry is a key (the path) with a tag the owner uses to tell whether it is still
    current (a file's stat signature, say) and the artifact.
    """

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._entries: OrderedDict[str, tuple[K, Artifact]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, path: str) -> tuple[K, Artifact] | None:
        with self._lock:
            entry = self._entries.get(path)
            if entry is not None:
                self._entries.move_to_end(path)
            return entry

    def put(self, path: str, tag: K, artifact: Artifact) -> None:
        size = size_of(artifact)
        if size > self._max:
            return  # larger than the whole cache: read it each time
        with self._lock:
            old = self._entries.pop(path, None)
            if old is not None:
                self._bytes -= size_of(old[1])
            self._entries[path] = (tag, artifact)
            self._bytes += size
            while self._bytes > self._max:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= size_of(evicted)

    def pop(self, path: str) -> None:
        with self._lock:
            old = self._entries.pop(path, None)
            if old is not None:
                self._bytes -= size_of(old[1])

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def bytes(self) -> int:
        return self._bytes
