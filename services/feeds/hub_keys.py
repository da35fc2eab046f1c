"""API keys for the WebSub hub, when `websub_require_key` is set: a hub request must carry
`Authorization: Bearer <key>` of a valid key that may write articles (or an admin key).

Keys are read as ingest reads them (shared/api_keys.py: NEWSWIRE_API_KEYS, then Redis by the
secret's digest), without importing ingest; each process trusts what it read for
`CACHE_SECONDS`, so a revoked key is refused within that.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import redis

from shared.api_keys import ARTICLES_WRITE, ApiKey, bearer_digest, configured_keys
from shared.state import redis_keys

# RFC 6750's b64token, of a sane length (as ingest accepts it).
CACHE_SECONDS = 0.5
# Unknown tokens are cached too, so guessing costs no Redis call each; bounded.
_CACHE_MAX = 10_000


class KeyRefused(Exception):
    """The request carries no valid key allowed to subscribe; the message says what to send."""


class HubKeys:
    """Finds the key behind an `Authorization` header and checks it may use the hub."""

    def __init__(
        self,
        client: redis.Redis,
        configured: Mapping[str, str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = client
        self._configured = {key.digest: key for key in configured_keys(configured)}
        self._clock = clock
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}

    def check(self, authorization: str | None) -> ApiKey:
        """The key that sent `authorization`, once it is valid and may write articles.

        Raises:
            KeyRefused: the header is missing or malformed, or the key is unknown, revoked or
                lacks the scope.
            redis.RedisError: the key could not be read.
        """
        try:
            digest = bearer_digest(authorization)
        except ValueError as exc:
            raise KeyRefused(str(exc)) from None
        if digest is None:
            raise KeyRefused("this hub needs an API key: send 'Authorization: Bearer <api key>'")
        key = self._configured.get(digest) or self._stored(digest)
        if key is None:
            raise KeyRefused("unknown API key")
        if key.revoked:
            raise KeyRefused("this API key was revoked")
        if not key.allows(ARTICLES_WRITE):
            raise KeyRefused(f"API key {key.id} lacks the {ARTICLES_WRITE!r} scope the hub needs")
        return key

    def _stored(self, digest: str) -> ApiKey | None:
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        key = ApiKey.from_hash(digest, self._redis.hgetall(redis_keys.api_key(digest)))
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (now + CACHE_SECONDS, key)
        return key
