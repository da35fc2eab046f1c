"""Superdesk destinations: where one Superdesk pushes, as which publisher, with which secret.

Each destination has its own URLs (its id in the path) and its own secret token. The token
is kept as it is, not as a digest: checking a signature takes the key itself.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
import redis.asyncio

from shared.settings import Settings
from shared.state import redis_keys


@dataclass(frozen=True)
class Destination:
    id: str
    publisher: str
    secret: str
    created: str

    @classmethod
    def from_hash(cls, destination_id: str, fields: dict[bytes, bytes]) -> Destination | None:
        if not fields or b"secret" not in fields:
            return None
        return cls(
            destination_id,
            fields[b"publisher"].decode(),
            fields[b"secret"].decode(),
            fields.get(b"created", b"").decode(),
        )


@dataclass(frozen=True)
class DestinationUrls:
    """What Superdesk's HTTP Push destination is configured with."""

    resource_url: str
    assets_url: str


def urls(settings: Settings, destination_id: str) -> DestinationUrls:
    # No trailing slash on the assets URL: Superdesk asks for `{assets_url}/{media_id}`.
    base = f"{settings.ingest_base_url}v1/superdesk/{destination_id}"
    return DestinationUrls(resource_url=f"{base}/items", assets_url=f"{base}/assets")


def _key(destination_id: str) -> str:
    return redis_keys.SUPERDESK_DESTINATION.format(id=destination_id)


def assets_key(destination_id: str) -> str:
    return redis_keys.SUPERDESK_ASSETS.format(id=destination_id)


def add(client: redis.Redis, publisher: str) -> Destination:
    """A new destination pushing as `publisher`, with a new id and secret."""
    publisher = publisher.strip()
    if not publisher:
        raise ValueError("name the publisher the pushed articles belong to, e.g. `newsroom`")
    destination = Destination(
        id=secrets.token_hex(8),
        publisher=publisher,
        secret=secrets.token_urlsafe(32),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    fields = {"publisher": publisher, "secret": destination.secret, "created": destination.created}
    with client.pipeline(transaction=True) as pipe:
        pipe.hset(_key(destination.id), mapping=fields)
        pipe.sadd(redis_keys.SUPERDESK_DESTINATIONS, destination.id)
        pipe.execute()
    return destination


def listing(client: redis.Redis) -> list[Destination]:
    """Every destination, oldest first."""
    ids = sorted(i.decode() for i in client.smembers(redis_keys.SUPERDESK_DESTINATIONS))
    with client.pipeline(transaction=False) as pipe:
        for destination_id in ids:
            pipe.hgetall(_key(destination_id))
        found = [Destination.from_hash(i, f) for i, f in zip(ids, pipe.execute(), strict=True)]
    return sorted((d for d in found if d), key=lambda d: (d.created, d.id))


def remove(client: redis.Redis, destination_id: str) -> Destination:
    """Remove a destination: its pushes are refused from now on. Articles and images it
    pushed stay published (retract articles with DELETE /v1/articles/{id})."""
    found = Destination.from_hash(destination_id, client.hgetall(_key(destination_id)))
    if found is None:
        raise ValueError(f"no destination {destination_id!r}: `newswire superdesk list` shows them")
    with client.pipeline(transaction=True) as pipe:
        pipe.delete(_key(destination_id), assets_key(destination_id))
        pipe.srem(redis_keys.SUPERDESK_DESTINATIONS, destination_id)
        pipe.execute()
    return found


async def lookup(client: redis.asyncio.Redis, destination_id: str) -> Destination | None:
    # Ids are hex: anything else names no destination, and costs no Redis call.
    if not (0 < len(destination_id) <= 64) or destination_id.strip("0123456789abcdef"):
        return None
    return Destination.from_hash(destination_id, await client.hgetall(_key(destination_id)))
