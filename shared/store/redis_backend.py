"""Redis artifact store, for workers and feeds services that share no disk.

Artifacts live in hashes; each publish announces changed paths on a pub/sub channel, and
every reader keeps a memory cache that those announcements invalidate. While Redis cannot
be reached, readers keep serving what they hold and fail the rest fast (`RedisUnavailable`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from importlib.resources import files
from typing import TypeVar

import redis

from shared.state import redis_keys
from shared.state.events import event_id_key
from shared.store import DEFAULT_CACHE_BYTES, ArtifactStore, Listed, StoreUnavailable
from shared.store.artifacts import Artifact, safe_path
from shared.store.memory_cache import ArtifactCache

_CHANNEL = redis_keys.ARTIFACTS_CHANGED
# After a failed call, calls fail at once for this long instead of each waiting on a dead
# or hung server (threads that wait pile up); then one more try is let through.
_RETRY_AFTER_S = 1.0

T = TypeVar("T")


class RedisUnavailable(StoreUnavailable, redis.ConnectionError):
    """Redis did not answer; also a redis ConnectionError, so callers that retry those do."""


def _script(client: redis.Redis, name: str):  # type: ignore[no-untyped-def]
    lua = files("shared.store.lua")
    shared = lua.joinpath("artifact_watermark.lua").read_text()
    return client.register_script(shared + lua.joinpath(name).read_text())


class RedisStore(ArtifactStore):
    def __init__(self, client: redis.Redis, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._redis = client
        self._publish = _script(client, "publish_artifacts.lua")
        self._delete = _script(client, "delete_artifacts.lua")
        self._prefix = redis_keys.family(redis_keys.ARTIFACT)  # the scripts append a path
        self._keys = [redis_keys.ARTIFACT_MARKS, redis_keys.ARTIFACTS, redis_keys.ARTIFACTS_GONE]
        self._cache: ArtifactCache[None] = ArtifactCache(cache_bytes)
        # Bumped on every invalidation: a fetch that raced one is not cached.
        self._generation = 0
        self._cache_lock = threading.Lock()
        self._listening = threading.Event()
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._down_until = 0.0  # time.monotonic() before which calls fail fast

    def publish(self, target: str, artifacts: Sequence[Artifact], watermark: str) -> bool:
        ms, seq = event_id_key(watermark)
        args: list[str | bytes | float] = [target, ms, seq, self._prefix, _CHANNEL, time.time()]
        for a in artifacts:
            args += [a.path, a.body, a.gzip or b"", a.br or b""]
        published = bool(self._call(self._publish, keys=self._keys, args=args))
        # Our own announcement arrives later, on the listener thread: read our writes now.
        for a in artifacts if published else ():
            self._invalidate(a.path)
        return published

    def delete(
        self, target: str, paths: Sequence[str], watermark: str, *, gone: bool = False
    ) -> bool:
        ms, seq = event_id_key(watermark)
        args = [target, ms, seq, self._prefix, _CHANNEL, int(gone), *paths]
        deleted = bool(self._call(self._delete, keys=self._keys, args=args))
        for path in paths if deleted else ():
            self._invalidate(path)
        return deleted

    def get(self, path: str) -> Artifact | None:
        if safe_path(path) is None:
            return None
        self._ensure_listener()
        held = self._cache.get(path)
        if held is not None and self._trusted():
            return held[1]
        generation = self._generation
        try:
            artifact = self._call(self._fetch, path)
        except RedisUnavailable:
            if held is not None:
                return held[1]  # what we hold, if stale, beats an error while Redis is away
            raise
        # Misses are not cached: any request path would otherwise grow the cache forever.
        # What is fetched before the subscription is up is kept, but served from memory only
        # once announcements flow again (the resubscription clears it) or Redis is away.
        with self._cache_lock:
            if generation == self._generation:
                if artifact is None:
                    self._cache.pop(path)
                else:
                    self._cache.put(path, None, artifact)
        return artifact

    def cached(self, path: str) -> Artifact | None:
        if safe_path(path) is None:
            return None
        self._ensure_listener()
        held = self._cache.get(path)
        return held[1] if held is not None and self._trusted() else None

    def gone(self, path: str) -> bool:
        return safe_path(path) is not None and bool(
            self._call(self._redis.sismember, redis_keys.ARTIFACTS_GONE, path)
        )

    def listing(self, prefix: str) -> list[Listed]:
        paths = sorted(p.decode() for p in self._call(self._redis.smembers, redis_keys.ARTIFACTS))
        paths = [p for p in paths if p.startswith(prefix)]
        pipe = self._redis.pipeline(transaction=False)
        for path in paths:
            pipe.hget(redis_keys.artifact(path), "modified")
        return [
            Listed(path, float(modified))
            for path, modified in zip(paths, self._call(pipe.execute) if paths else [], strict=True)
            if modified is not None
        ]

    def close(self) -> None:
        self._stop.set()

    def _trusted(self) -> bool:
        """Whether memory may answer: announcements flow, or Redis is away (stale beats
        nothing)."""
        return self._listening.is_set() or time.monotonic() < self._down_until

    def _call(self, call: Callable[..., T], *args: object, **kwargs: object) -> T:
        if time.monotonic() < self._down_until:
            raise RedisUnavailable("redis is unavailable; retry shortly")
        try:
            return call(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self._down_until = time.monotonic() + _RETRY_AFTER_S
            raise RedisUnavailable("redis is unavailable; retry shortly") from exc

    def _fetch(self, path: str) -> Artifact | None:
        body, gz, br, modified = self._redis.hmget(
            redis_keys.artifact(path), "body", "gzip", "br", "modified"
        )
        if body is None:
            return None
        return Artifact(path, body, gzip=gz or None, br=br or None, modified=float(modified or 0))

    def _invalidate(self, path: str | None) -> None:
        # Under the lock, so no fetch that raced this invalidation can be cached after it.
        with self._cache_lock:
            self._generation += 1
            if path is None:
                self._cache.clear()
            else:
                self._cache.pop(path)

    def _ensure_listener(self) -> None:
        if self._listener is not None:
            return
        with self._start_lock:
            if self._listener is None:
                self._listener = threading.Thread(target=self._listen, daemon=True)
                self._listener.start()

    def _listen(self) -> None:
        try:
            self._listen_until_stopped()
        finally:
            # Whatever ends this thread, no invalidations arrive any more: stop caching.
            self._listening.clear()

    def _listen_until_stopped(self) -> None:
        while not self._stop.is_set():
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(_CHANNEL)
                self._invalidate(None)  # anything cached before (re)subscribing may be stale
                self._down_until = 0.0
                self._listening.set()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._invalidate(message["data"].decode())
            except redis.RedisError:
                # What is cached stays, to be served while Redis is away; it is cleared when
                # the subscription is back, since announcements were missed meanwhile.
                self._listening.clear()
                self._down_until = time.monotonic() + _RETRY_AFTER_S
                self._stop.wait(0.5)
            finally:
                pubsub.close()
