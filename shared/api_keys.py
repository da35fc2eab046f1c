"""API keys as stored: a key's digest, publisher and scopes; never its secret.

Keys live in Redis by the SHA-256 digest of the secret (`newswire keys create`), or in
NEWSWIRE_API_KEYS (digest → publisher, scope articles:write). Only digests are ever stored
or compared.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Scope = Literal["articles:write", "admin"]
ARTICLES_WRITE: Scope = "articles:write"
ADMIN: Scope = "admin"  # operator routes; may also do everything articles:write may
SCOPES: tuple[Scope, ...] = (ARTICLES_WRITE, ADMIN)


# RFC 6750's b64token, bounded.
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]{1,512}=*")


def key_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_digest(authorization: str | None) -> str | None:
    """The digest of the key in an `Authorization: Bearer <key>` header; None without one.

    Raises:
        ValueError: the header is there but not a Bearer token; the message says what to send.
    """
    scheme, _, token = (authorization or "").strip().partition(" ")
    if not scheme:
        return None
    token = token.strip()
    if scheme.lower() != "bearer" or not _TOKEN.fullmatch(token):
        raise ValueError("malformed Authorization header: send 'Bearer <api key>'")
    return key_digest(token)


def decoded(value: bytes | str | None) -> str:
    """A Redis reply (bytes, str or None) as text."""
    return value.decode() if isinstance(value, bytes) else (value or "")


@dataclass(frozen=True)
class ApiKey:
    """A key as stored: never the secret, only its digest."""

    digest: str
    publisher: str
    scopes: tuple[Scope, ...]
    created: str = ""  # RFC 3339; empty for a configured key
    revoked: str = ""  # RFC 3339 once revoked
    configured: bool = False  # from NEWSWIRE_API_KEYS rather than Redis

    @property
    def id(self) -> str:
        """The digest's first 12 hex digits: enough to name a key, useless to forge one."""
        return self.digest[:12]

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or ADMIN in self.scopes

    def to_hash(self) -> dict[str, str]:
        return {
            "publisher": self.publisher,
            "scopes": " ".join(self.scopes),
            "created": self.created,
            "revoked": self.revoked,
        }

    @classmethod
    def from_hash(cls, digest: str, fields: Mapping[Any, Any]) -> ApiKey | None:
        """The key stored as `fields` (a Redis hash, bytes or str), or None if there is none."""
        values = {decoded(k): decoded(v) for k, v in fields.items()}
        if not values.get("publisher"):
            return None
        scopes = tuple(s for s in SCOPES if s in values.get("scopes", "").split())
        created, revoked = values.get("created", ""), values.get("revoked", "")
        return cls(digest, values["publisher"], scopes, created, revoked)

    def public(self) -> dict[str, Any]:
        """What an operator may see of the key."""
        return {
            "id": self.id,
            "publisher": self.publisher,
            "scopes": list(self.scopes),
            "created": self.created or None,
            "revoked": self.revoked or None,
            "source": "NEWSWIRE_API_KEYS" if self.configured else "redis",
        }


def configured_keys(api_keys: Mapping[str, str]) -> list[ApiKey]:
    """The keys in NEWSWIRE_API_KEYS, which predate scopes: each may write articles."""
    return [ApiKey(d, p, (ARTICLES_WRITE,), configured=True) for d, p in api_keys.items()]
