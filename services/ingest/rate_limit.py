"""Per-API-key rate limits: GCRA in one Lua call against Redis's clock, shared by every
ingest process.

At a high rate a process takes a few requests' worth at once (a lease: `LEASE_SECONDS` of
the steady rate) and spends them without asking Redis again, so a thousand requests a second
cost tens of Redis calls, not a thousand. Leased requests are taken from the shared bucket
before they are spent, so a key never gets more than its limit, whatever the number of
processes; what a process leased and did not spend within `LEASE_TTL_SECONDS` is forfeited.
At rates where a lease would be a single request (below 100 requests/s by default) every
request asks Redis, exactly as without leases.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib.resources import files

import redis.asyncio

from shared.state import redis_keys

_SCRIPT = files("services.ingest").joinpath("rate_limit.lua").read_text()
# A lease is this long at the steady rate, and at most a quarter of the burst: the requests
# leased but not yet spent are all another process could be refused while this one holds them.
LEASE_SECONDS = 0.01
# Leased requests left unspent this long are forfeited, so an idle process holds none.
LEASE_TTL_SECONDS = 1.0
# Keys with a lease held at once (a lease is a few bytes; past this all are dropped).
_LEASES_MAX = 10_000


class RateLimiter:
    """Allows `per_second` requests per key on average, `burst` at once; 0 allows all."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        per_second: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_second = per_second
        self.burst = burst
        self._interval_us = round(1_000_000 / per_second) if per_second > 0 else 0
        self._script = client.register_script(_SCRIPT)
        self.lease = max(1, min(int(per_second * LEASE_SECONDS), burst // 4))
        self._clock = clock
        self._leases: dict[str, tuple[int, float]] = {}  # digest → (requests left, until)

    async def wait_needed(self, digest: str, cost: int = 1) -> float:
        """Seconds until a request of `cost` by the key with `digest` may go; 0 takes it now.

        A refused request takes nothing, so a client that keeps retrying early stays refused
        only until its bucket refills.
        """
        if not self._interval_us:
            return 0.0
        if self.lease > cost:
            left, until = self._leases.get(digest, (0, 0.0))
            if left >= cost and self._clock() < until:
                self._leases[digest] = (left - cost, until)
                return 0.0
            if not await self._take(digest, self.lease):
                left, until = self._leases.get(digest, (0, 0.0))
                now = self._clock()
                left = left if now < until else 0
                if len(self._leases) >= _LEASES_MAX:
                    self._leases.clear()
                self._leases[digest] = (left + self.lease - cost, now + LEASE_TTL_SECONDS)
                return 0.0
            # Not a whole lease left in the bucket: ask for this request alone.
        return await self._take(digest, cost) / 1_000_000

    async def _take(self, digest: str, cost: int) -> int:
        """Take `cost` from the key's bucket: 0, or the µs until it could be taken."""
        wait_us = await self._script(
            keys=[redis_keys.rate(digest)], args=[self._interval_us, self.burst, cost]
        )
        return int(wait_us)
