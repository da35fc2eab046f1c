"""The artifact store interface, and `make_store` to pick a backend from settings."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import NamedTuple

from shared.settings import Settings
from shared.store.artifacts import Artifact
from shared.store.memory_cache import ArtifactCache

DEFAULT_CACHE_BYTES = 256 * 1024 * 1024


class StoreUnavailable(Exception):
    """The store's backing service cannot be reached now; the caller may retry shortly."""


class Listed(NamedTuple):
    path: str
    modified: float  # seconds since the epoch: when the bytes last changed


class ArtifactStore(ABC):
    """Where builds publish artifacts and the feeds service reads them.

    Writes are conditional on a watermark (the last event id a build saw), so a slower,
    older build never overwrites or deletes what a newer one wrote. `get` serves from memory
    and notices changes. Backends keep that memory in `_cache` (an `ArtifactCache`).
    """

    _cache: ArtifactCache

    @abstractmethod
    def publish(self, target: str, artifacts: Sequence[Artifact], watermark: str) -> bool:
        """Replace the artifacts of `target` unless a newer watermark is already stored.

        Returns:
            False when the write was refused because it was older than what is stored.
        """

    @abstractmethod
    def delete(
        self, target: str, paths: Sequence[str], watermark: str, *, gone: bool = False
    ) -> bool:
        """Delete artifacts of `target` unless a newer watermark is stored; with `gone`, they
        are remembered as deliberately removed (served as 410) until published again.

        Returns:
            False when the delete was refused because it was older than what is stored.
        """

    @abstractmethod
    def get(self, path: str) -> Artifact | None:
        """The current artifact at `path`, or None."""

    def cached(self, path: str) -> Artifact | None:
        """The artifact at `path` if it can be had without waiting on the network, else None
        (then ask `get`, off the event loop). Local backends answer through `get`."""
        return self.get(path)

    @abstractmethod
    def gone(self, path: str) -> bool:
        """Whether `path` was deleted as gone (and not published since)."""

    @abstractmethod
    def listing(self, prefix: str) -> list[Listed]:
        """The stored artifacts under `prefix`, sorted by path."""

    def paths(self, prefix: str) -> list[str]:
        """Sorted paths of the stored artifacts under `prefix`."""
        return [listed.path for listed in self.listing(prefix)]

    @property
    def cache(self) -> ArtifactCache:
        """The memory cache, whose `bytes` and `entries` say what it holds."""
        return self._cache

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release background resources."""


def make_store(
    settings: Settings, *, recheck_ms: int = 0, redis_timeout_s: float = 5.0
) -> ArtifactStore:
    """The backend chosen by `settings.store_backend`. With `recheck_ms`, a filesystem store
    trusts what it holds in memory for that long (the Redis store is told of changes).
    `redis_timeout_s` bounds each wait on the Redis store's server: a service answering
    requests passes `settings.redis_request_timeout_s`; builds keep the default, since one
    of their calls may carry megabytes."""
    cache_bytes = settings.store_cache_mb * 1024 * 1024
    if settings.store_backend == "redis":
        import redis

        from shared.store.redis_backend import RedisStore

        # Timeouts, so a hung Redis fails a call (answered 503) instead of holding it forever.
        client = redis.Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=min(1.0, redis_timeout_s),
            socket_timeout=redis_timeout_s,
        )
        return RedisStore(client, cache_bytes)
    from shared.store.filesystem import FilesystemStore

    return FilesystemStore(settings.artifact_dir, cache_bytes, recheck_ms)
