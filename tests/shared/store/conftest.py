"""Store fixtures: each backend against real storage (a tmp directory, a real redis-server).

One redis-server serves the whole module, emptied before each test: starting one per test
would cost more than the tests themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from devstack.redis_server import RedisServer
from shared.store import ArtifactStore
from shared.store.filesystem import FilesystemStore
from shared.store.redis_backend import RedisStore


@pytest.fixture(scope="module")
def module_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(module_redis: RedisServer) -> str:
    """The URL of an empty Redis database."""
    client = redis.Redis.from_url(module_redis.url)
    client.flushdb()
    client.close()
    return module_redis.url


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
