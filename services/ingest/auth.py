"""Who a bearer token is (its publisher and scopes, see shared/api_keys.py), and the route
dependency that refuses a missing, malformed, unknown or revoked key, one over its rate limit,
or one without the scope the route needs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import redis.asyncio
from fastapi import Request

from services.ingest.errors import Forbidden, TooManyRequests, Unauthorized
from shared.api_keys import ApiKey, Scope, bearer_digest, configured_keys, decoded
from shared.state import redis_keys

# RFC 6750's b64token, of a sane length.
# How long a process trusts what it read of a key: a revoked key is refused within this.
CACHE_SECONDS = 0.5
# Unknown tokens are cached too (so guessing costs no Redis call each); the bound keeps a
# flood of them from growing memory.
_CACHE_MAX = 10_000


class ApiKeys:
    """Finds the key behind an `Authorization` header, by digest, with a short-lived cache."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        configured: Mapping[str, str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = client
        self._configured = {key.digest: key for key in configured_keys(configured)}
        self._clock = clock
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}

    async def caller(self, authorization: str | None) -> ApiKey:
        """The valid key that sent `authorization`.

        Raises:
            Unauthorized: the header is missing or malformed, or the key is unknown or revoked.
        """
        try:
            digest = bearer_digest(authorization)
        except ValueError as exc:
            raise Unauthorized(str(exc)) from None
        if digest is None:
            raise Unauthorized("send 'Authorization: Bearer <api key>'")
        key = self._configured.get(digest) or await self._stored(digest)
        if key is None:
            raise Unauthorized("unknown API key")
        if key.revoked:
            raise Unauthorized("this API key was revoked")
        return key

    async def _stored(self, digest: str) -> ApiKey | None:
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        key = ApiKey.from_hash(digest, await self._redis.hgetall(redis_keys.api_key(digest)))
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (now + CACHE_SECONDS, key)
        return key

    async def every_key(self) -> list[ApiKey]:
        """Configured keys, then those in Redis, oldest first."""
        digests = sorted(decoded(d) for d in await self._redis.smembers(redis_keys.API_KEYS))
        pipe = self._redis.pipeline(transaction=False)
        for digest in digests:
            pipe.hgetall(redis_keys.api_key(digest))
        stored = [
            ApiKey.from_hash(d, f) for d, f in zip(digests, await pipe.execute(), strict=True)
        ]
        ordered = sorted((k for k in stored if k), key=lambda k: (k.created, k.digest))
        return [*self._configured.values(), *ordered]


# The header `authorized` reads, as the OpenAPI document shows it: every route that depends
# on `authorized` lists it in `openapi_extra` (see `documented`). The dependency reads the
# header itself, since FastAPI validating a declared one costs tens of µs on every request.
AUTHORIZATION_HEADER: dict[str, Any] = {
    "in": "header",
    "name": "authorization",
    "required": False,
    "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Authorization"},
}


def documented(*parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A route's `openapi_extra`: the parameters it reads itself, the Authorization header
    last (FastAPI appends these to those it declares), and anything else in `extra`."""
    return {"parameters": [*parameters, AUTHORIZATION_HEADER], **extra}


def authorized(scope: Scope) -> Callable[..., Awaitable[ApiKey]]:
    """A route dependency giving the caller's key once it is valid, within its rate limit
    (every authenticated request counts, a batch as one) and holds `scope`. Its route must
    document the Authorization header: `openapi_extra=documented(...)`."""

    async def dependency(request: Request) -> ApiKey:
        state = request.app.state
        key = await state.api_keys.caller(request.headers.get("authorization"))
        wait = await state.rate_limiter.wait_needed(key.digest)
        if wait:
            limiter = state.rate_limiter
            retry_after = max(1, math.ceil(wait))
            raise TooManyRequests(
                f"API key {key.id} is over its rate limit ({limiter.per_second:g} requests/s, "
                f"bursts of {limiter.burst}); retry after {retry_after} s",
                retry_after,
            )
        if not key.allows(scope):
            raise Forbidden(f"API key {key.id} lacks the {scope!r} scope this route needs")
        return key

    return dependency
