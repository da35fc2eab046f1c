"""`newswire keys`: create, list and revoke publishers' API keys, kept in Redis.

The secret is shown once, at create; Redis keeps only its SHA-256 digest. Ingest reads keys
from Redis as requests arrive, so a new key works at once and a revoked one is refused
within a second, without a restart. Keys in NEWSWIRE_API_KEYS are listed too; they change
only with that setting.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import redis

from shared.api_keys import ARTICLES_WRITE, SCOPES, ApiKey, configured_keys, key_digest
from shared.settings import Settings
from shared.state import redis_keys

# A shorter prefix would too easily name a key the operator did not mean.
MIN_PREFIX = 6


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def create_key(client: redis.Redis, publisher: str, scopes: Sequence[str]) -> tuple[str, ApiKey]:
    """A new key for `publisher`: its secret (to show once) and what Redis keeps of it."""
    if not publisher.strip():
        raise ValueError("the publisher name must not be empty")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}: use one of {', '.join(SCOPES)}")
    token = secrets.token_urlsafe(32)
    if not scopes:
        raise ValueError(f"give the key at least one scope: {', '.join(SCOPES)}")
    chosen = tuple(s for s in SCOPES if s in scopes)
    key = ApiKey(key_digest(token), publisher.strip(), chosen, created=_now())
    with client.pipeline(transaction=True) as pipe:
        pipe.hset(redis_keys.api_key(key.digest), mapping=key.to_hash())
        pipe.sadd(redis_keys.API_KEYS, key.digest)
        pipe.execute()
    return token, key


def stored_keys(client: redis.Redis) -> list[ApiKey]:
    """Every key in Redis, revoked ones included, oldest first."""
    digests = sorted(d.decode() for d in client.smembers(redis_keys.API_KEYS))
    with client.pipeline(transaction=False) as pipe:
        for digest in digests:
            pipe.hgetall(redis_keys.api_key(digest))
        stored = [ApiKey.from_hash(d, f) for d, f in zip(digests, pipe.execute(), strict=True)]
    return sorted((k for k in stored if k), key=lambda k: (k.created, k.digest))


def revoke_key(client: redis.Redis, ref: str, settings: Settings) -> ApiKey:
    """Revoke the one key in Redis whose digest starts with `ref` (a key id or longer).

    Returns:
        The key as now stored; revoking it again keeps the first revocation time.

    Raises:
        ValueError: `ref` names no key, several keys, or a key only the settings can remove.
    """
    prefix = ref.strip().lower()
    if len(prefix) < MIN_PREFIX or any(c not in "0123456789abcdef" for c in prefix):
        raise ValueError(
            f"name a key by its id or digest prefix: at least {MIN_PREFIX} hex digits "
            "(`newswire keys list` shows the ids)"
        )
    matches = [k for k in stored_keys(client) if k.digest.startswith(prefix)]
    if not matches:
        if any(k.digest.startswith(prefix) for k in configured_keys(settings.api_keys)):
            raise ValueError(
                f"key {prefix} is configured in NEWSWIRE_API_KEYS: remove it there "
                "and restart ingest"
            )
        raise ValueError(f"no key {prefix}: `newswire keys list` shows the ids")
    if len(matches) > 1:
        ids = ", ".join(k.id for k in matches)
        raise ValueError(f"{prefix} names several keys ({ids}): give more digits")
    key = matches[0]
    if not key.revoked:
        client.hset(redis_keys.api_key(key.digest), "revoked", _now())
    revoked = ApiKey.from_hash(key.digest, client.hgetall(redis_keys.api_key(key.digest)))
    assert revoked is not None  # the hash was just read and written
    return revoked


def describe_new(token: str, key: ApiKey) -> str:
    return "\n".join(
        [
            f"API key {key.id} for {key.publisher} ({', '.join(key.scopes)}); "
            "the secret is shown only now, give it to the newsroom system:",
            f"  {token}",
            f"It works at once; `newswire keys revoke {key.id}` withdraws it.",
        ]
    )


def describe_keys(listed: Sequence[ApiKey]) -> str:
    if not listed:
        return "no API keys: make one with `newswire keys create <publisher>`"
    rows = [("ID", "PUBLISHER", "SCOPES", "CREATED", "REVOKED")]
    for key in listed:
        created = key.created or "(NEWSWIRE_API_KEYS)"
        rows.append((key.id, key.publisher, ",".join(key.scopes), created, key.revoked or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """`newswire keys create|new|list|revoke`."""
    client = redis.Redis.from_url(settings.redis_url)
    if args.keys_command in ("create", "new"):
        print(describe_new(*create_key(client, args.publisher, args.scope or [ARTICLES_WRITE])))
    elif args.keys_command == "revoke":
        key = revoke_key(client, args.key, settings)
        print(f"API key {key.id} of {key.publisher} revoked at {key.revoked}")
    else:
        print(describe_keys([*configured_keys(settings.api_keys), *stored_keys(client)]))
    return 0
