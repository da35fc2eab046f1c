"""A memory cache of artifacts bounded by bytes: hot feeds stay in memory, cold cards leave."""

from __future__ import annotations

from typing import Generic, TypeVar

from shared.bounded_cache import BoundedCache
from shared.store.artifacts import Artifact

K = TypeVar("K")


def size_of(artifact: Artifact) -> int:
    return len(artifact.body) + len(artifact.gzip or b"") + len(artifact.br or b"")


class ArtifactCache(Generic[K]):
    """Least recently used entries go first once the total passes `max_bytes`.

    Each entry is a key (the path) with a tag the owner uses to tell whether it is still
    current (a file's stat signature, say) and the artifact. `bytes` and `entries` say how
    much it holds now.
    """

    def __init__(self, max_bytes: int) -> None:
        self._entries: BoundedCache[str, tuple[K, Artifact]] = BoundedCache(max_bytes)

    def get(self, path: str) -> tuple[K, Artifact] | None:
        return self._entries.get(path)

    def put(self, path: str, tag: K, artifact: Artifact) -> None:
        self._entries.put(path, (tag, artifact), size_of(artifact))

    def pop(self, path: str) -> None:
        self._entries.pop(path)

    def clear(self) -> None:
        self._entries.clear()

    @property
    def bytes(self) -> int:
        return self._entries.bytes

    @property
    def entries(self) -> int:
        return self._entries.entries

    @property
    def max_bytes(self) -> int:
        return self._entries.max_bytes
