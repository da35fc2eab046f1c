"""The artifact store interface, and `make_store` to pick a backend from settings."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from shared.artifacts import Artifact
from shared.settings import Settings


class ArtifactStore(ABC):
    """Where builds publish artifacts and the feeds service reads them.

    `publish` is conditional on a watermark (the last event id a build saw), so a slower,
    older build never overwrites a newer one. `get` serves from memory and notices changes.
    """

    @abstractmethod
    def publish(self, target: str, artifacts: Sequence[Artifact], watermark: str) -> bool:
        """Replace the artifacts of `target` unless a newer watermark is already stored.

        Returns:
            False when the write was refused because it was older than what is stored.
        """

    @abstractmethod
    def get(self, path: str) -> Artifact | None:
        """The current artifact at `path`, or None."""

    @abstractmethod
    def paths(self, prefix: str) -> list[str]:
        """Sorted paths of the stored artifacts under `prefix`."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release background resources."""


def make_store(settings: Settings) -> ArtifactStore:
    """The backend chosen by `settings.store_backend`."""
    if settings.store_backend == "redis":
        import redis

        from shared.store.redis_backend import RedisStore

        return RedisStore(redis.Redis.from_url(settings.redis_url))
    from shared.store.filesystem import FilesystemStore

    return FilesystemStore(settings.artifact_dir)
