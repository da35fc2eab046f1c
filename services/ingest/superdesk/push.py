"""What a Superdesk push does, behind the routes: check the signature, store an image, write
or retract an article, all as the destination's publisher."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
import redis.asyncio

from services.ingest.audited_writer import AuditedWriter
from services.ingest.body_validation import INLINE_MAX_BYTES, parse_json
from services.ingest.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidArticle,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from services.ingest.superdesk import destinations, items, signature
from services.ingest.superdesk.assets import MAX_MEDIA_ID_CHARS, Assets, image_extension, media_url
from services.ingest.superdesk.destinations import Destination
from shared.settings import Settings
from shared.state.article_writer import WriteResult

_REFUSED = (
    f"{signature.HEADER} is missing or wrong, or no such destination: set the destination's "
    "secret_token in Superdesk to what `newswire superdesk add` printed"
)
# Superdesk's item types that carry a story; a picture's binaries arrive as assets.
_STORY_TYPES = frozenset({"text", "preformatted"})


class SuperdeskPush:
    def __init__(
        self, client: redis.asyncio.Redis, settings: Settings, writer: AuditedWriter
    ) -> None:
        self._redis = client
        self._settings = settings
        self._writer = writer
        self.assets = Assets(client, settings)

    async def destination(
        self, destination_id: str, body: bytes, signed: str | None
    ) -> Destination:
        """The destination, if `signed` signs `body` with its secret; else 403."""
        found = await destinations.lookup(self._redis, destination_id)
        if found is None or not signature.verify(found.secret, body, signed):
            raise Forbidden(_REFUSED)
        return found

    async def asset_exists(self, destination_id: str, media_id: str, signed: str | None) -> bool:
        # Superdesk asks without a signature (its GET has no body); one that is sent is checked.
        found = await destinations.lookup(self._redis, destination_id)
        if found is None or (
            signed is not None and not signature.verify(found.secret, b"", signed)
        ):
            raise Forbidden(_REFUSED)
        return await self.assets.exists(found.id, media_id)

    async def store_asset(self, destination: Destination, media_id: Any, media: Any) -> dict:
        if not isinstance(media_id, str) or not 0 < len(media_id) <= MAX_MEDIA_ID_CHARS:
            raise BadRequest(f"send the field media_id: 1 to {MAX_MEDIA_ID_CHARS} characters")
        data = await _media_bytes(media)
        extension = image_extension(data)
        if extension is None:  # base64, as Eve's file storage documents it
            data = _base64(data)
            extension = image_extension(data)
        if extension is None:
            raise UnsupportedMediaType("media must be a JPEG, PNG, WebP or GIF image")
        limit = self._settings.superdesk_max_asset_bytes
        if len(data) > limit:
            raise PayloadTooLarge(f"the image is over {limit} bytes: push a smaller rendition")
        path = await self.assets.put(destination.id, media_id, data, extension)
        return {"media_id": media_id, "url": media_url(self._settings, path)}

    async def receive_item(self, destination: Destination, body: bytes) -> tuple[int, dict]:
        document = parse_json(body)
        if not isinstance(document, dict):
            raise BadRequest("an item must be a ninjs JSON object")
        if not items.nesting_within(document):
            raise InvalidArticle(f"the item nests deeper than {items.MAX_NESTING} levels")
        kind = document.get("type", "text")
        if kind not in _STORY_TYPES:
            # Accepted, so Superdesk does not retry it: a story's pictures come as its images.
            return 200, {"id": None, "status": "ignored", "type": kind}
        held = await self.assets.paths(destination.id, items.media_ids(document))
        document = items.with_own_media(document, held, self._settings)
        now = datetime.now(UTC)
        if len(body) > INLINE_MAX_BYTES:  # large bodies are sanitized off the event loop
            pushed = await anyio.to_thread.run_sync(items.to_article, document, self._settings, now)
        else:
            pushed = items.to_article(document, self._settings, now)
        if pushed.article is None:
            result = await self._writer.retract(pushed.article_id, destination.publisher)
        else:
            result = await self._writer.upsert(pushed.article, destination.publisher)
        return 201, _answer(result)


def _answer(result: WriteResult) -> dict:
    if result.status == "forbidden":
        raise Conflict(
            f"article id {result.id!r} belongs to another publisher: this destination's "
            "publisher cannot write it"
        )
    # A kill of an item never received has nothing to retract: answered as done.
    return {"id": result.id, "status": result.status, "revision": result.revision}


async def _media_bytes(media: Any) -> bytes:
    if isinstance(media, str):  # sent as a plain field (base64, as Eve's docs describe)
        return media.encode()
    if media is None or not hasattr(media, "read"):
        raise BadRequest("send the image in the multipart field media")
    return await media.read()


def _base64(data: bytes) -> bytes:
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return b""
