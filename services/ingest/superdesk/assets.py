"""Images Superdesk pushes: recognised by their first bytes, kept in the artifact store under
media/, and remembered per destination by Superdesk's media id.

An image is served by the feeds service at `<feeds_base_url>media/<name>` and read by the
card worker from the store, so nothing fetches it from Superdesk. Its name is a digest of the
destination and the media id: stable across pushes, and naming nothing of either.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from functools import cached_property

import anyio.to_thread
import redis.asyncio

from services.ingest.superdesk.destinations import assets_key
from shared.settings import Settings
from shared.store import ArtifactStore, make_store
from shared.store.artifacts import Artifact

MEDIA_PREFIX = "media/"
MAX_MEDIA_ID_CHARS = 512


def image_extension(data: bytes) -> str | None:
    """The file extension of a JPEG, PNG, WebP or GIF image, by its magic bytes; else None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    return None


def media_path(destination_id: str, media_id: str, extension: str) -> str:
    digest = hashlib.sha256(f"{destination_id}\0{media_id}".encode()).hexdigest()[:32]
    return f"{MEDIA_PREFIX}{digest}.{extension}"


def media_url(settings: Settings, path: str) -> str:
    return f"{settings.feeds_base_url}{path}"


class Assets:
    """A destination's pushed images: stored as artifacts, indexed in Redis by media id."""

    def __init__(self, client: redis.asyncio.Redis, settings: Settings) -> None:
        self._redis = client
        self._settings = settings

    @cached_property
    def _store(self) -> ArtifactStore:
        # Made at the first pushed image: ingest serves nothing from it, so a small cache.
        settings = self._settings.model_copy(update={"store_cache_mb": 1})
        return make_store(settings, redis_timeout_s=5.0)

    async def exists(self, destination_id: str, media_id: str) -> bool:
        return bool(await self._redis.hexists(assets_key(destination_id), media_id))

    async def paths(self, destination_id: str, media_ids: Iterable[str]) -> dict[str, str]:
        """The artifact paths of those of `media_ids` this destination pushed."""
        wanted = sorted(set(media_ids))
        if not wanted:
            return {}
        found = await self._redis.hmget(assets_key(destination_id), wanted)
        return {m: p.decode() for m, p in zip(wanted, found, strict=True) if p is not None}

    async def put(self, destination_id: str, media_id: str, data: bytes, extension: str) -> str:
        """Store the image, then index it: an indexed id always has its bytes stored."""
        path = media_path(destination_id, media_id, extension)
        # Media ids name one binary for good, so any order of writes is right: the time
        # serves as the store's watermark.
        watermark = f"{time.time_ns() // 1_000_000}-0"
        artifact = Artifact(path, data, modified=time.time())
        await anyio.to_thread.run_sync(
            lambda: self._store.publish(f"media:{path}", [artifact], watermark)
        )
        await self._redis.hset(assets_key(destination_id), media_id, path)
        return path
