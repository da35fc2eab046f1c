"""The stores' memory cache: bounded by bytes, least recently used out first."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import redis

from shared.store import ArtifactStore
from shared.store.artifacts import Artifact, encode
from shared.store.filesystem import FilesystemStore
from shared.store.memory_cache import ArtifactCache
from shared.store.redis_backend import RedisStore


def artifact(path: str, size: int) -> Artifact:
    return Artifact(path, b"x" * size)


def test_the_least_recently_used_leave_first_when_full() -> None:
    cache: ArtifactCache[int] = ArtifactCache(max_bytes=300)
    for name in ("a", "b", "c"):
        cache.put(name, 0, artifact(name, 100))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("d", 0, artifact("d", 100))
    assert cache.get("b") is None
    assert [cache.get(n) is not None for n in ("a", "c", "d")] == [True, True, True]
    assert cache.bytes == 300


def test_replacing_an_entry_counts_its_bytes_once() -> None:
    cache: ArtifactCache[int] = ArtifactCache(max_bytes=1000)
    cache.put("a", 1, artifact("a", 400))
    cache.put("a", 2, artifact("a", 500))
    assert cache.bytes == 500
    assert cache.get("a")[0] == 2  # type: ignore[index]
    cache.pop("a")
    assert cache.bytes == 0


def test_an_artifact_larger_than_the_cache_is_not_kept() -> None:
    cache: ArtifactCache[int] = ArtifactCache(max_bytes=100)
    cache.put("big", 0, artifact("big", 101))
    assert cache.get("big") is None


def test_a_store_serves_everything_while_keeping_its_memory_bounded(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path, cache_bytes=64 * 1024)
    cards = [encode(f"cards/c{i}.jpg", bytes([i]) * 20_000, 5) for i in range(20)]
    for i, card in enumerate(cards):
        assert store.publish(f"card:c{i}", [card], "1-0")
    for card in cards:  # 400 KB of cards through a 64 KB cache
        assert store.get(card.path).body == card.body  # type: ignore[union-attr]
    assert store._cache.bytes <= 64 * 1024


@pytest.mark.parametrize("backend", ["filesystem", "redis"])
def test_1_mb_artifacts_past_the_budget_keep_the_cache_within_it(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    budget = 4 * 1024 * 1024
    if backend == "redis":
        client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        store: ArtifactStore = RedisStore(client, budget)
    else:
        store = FilesystemStore(tmp_path, budget)
    rng = random.Random(7)
    # Incompressible 1 MB bodies: no compressed variants are kept, each weighs 1 MB.
    bodies = [rng.randbytes(1024 * 1024) for _ in range(10)]
    for i, body in enumerate(bodies):
        assert store.publish(f"card:c{i}", [encode(f"cards/c{i}.jpg", body, 1)], "1-0")
    for _ in range(2):
        for i, body in enumerate(bodies):
            assert store.get(f"cards/c{i}.jpg").body == body  # type: ignore[union-attr]
            assert store.cache.bytes <= budget
    assert store.cache.entries == 4  # the four most recent
    store.close()
