"""Bearer API keys: a key's SHA-256 digest names its publisher."""

from __future__ import annotations

import hashlib

from services.ingest.errors import Unauthorized


def key_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiKeys:
    """Looks keys up by digest, so no secret bytes are ever compared."""

    def __init__(self, digests: dict[str, str]) -> None:
        self._publishers = dict(digests)

    def publisher(self, authorization: str | None) -> str:
        """The publisher that owns the bearer token in an `Authorization` header.

        Raises:
            Unauthorized: the header is missing, malformed or names no known key.
        """
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send 'Authorization: Bearer <api key>'")
        publisher = self._publishers.get(key_digest(token.strip()))
        if publisher is None:
            raise Unauthorized("unknown API key")
        return publisher
