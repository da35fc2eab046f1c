"""Store fixtures: each backend against real storage (a tmp directory, a real redis-server).

The Redis backend runs on an empty database of the session's Valkey for each test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from shared.store import ArtifactStore
from shared.store.filesystem import FilesystemStore
from shared.store.redis_backend import RedisStore


@pytest.fixture
def redis_store_factory(redis_url: str) -> Iterator[Callable[[], RedisStore]]:
    """New RedisStores on one database, each with its own client, like separate hosts."""
    made: list[RedisStore] = []

    def make() -> RedisStore:
        store = RedisStore(redis.Redis.from_url(redis_url))
        made.append(store)
        return store

    yield make
    # The client stays open: its listener thread notices `close()` within a second.
    for store in made:
        store.close()


@pytest.fixture
def fs_store_factory(tmp_path: Path) -> Callable[[], FilesystemStore]:
    """New FilesystemStores on one shared directory, like processes sharing a disk."""
    return lambda: FilesystemStore(tmp_path / "artifacts")


@pytest.fixture(params=["filesystem", "redis"])
def store_factory(request: pytest.FixtureRequest) -> Callable[[], ArtifactStore]:
    return request.getfixturevalue(
        "fs_store_factory" if request.param == "filesystem" else "redis_store_factory"
    )


@pytest.fixture
def store(store_factory: Callable[[], ArtifactStore]) -> ArtifactStore:
    return store_factory()
