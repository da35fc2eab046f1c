"""Per-API-key rate limits: GCRA in one Lua call against Redis's clock, shared by every
ingest process."""

from __future__ import annotations

from importlib.resources import files

import redis.asyncio

from shared import keys

_SCRIPT = files("services.ingest").joinpath("rate_limit.lua").read_text()


class RateLimiter:
    """Allows `per_second` requests per key on average, `burst` at once; 0 allows all."""

    def __init__(self, client: redis.asyncio.Redis, per_second: float, burst: int) -> None:
        self.per_second = per_second
        self.burst = burst
        self._interval_us = round(1_000_000 / per_second) if per_second > 0 else 0
        self._script = client.register_script(_SCRIPT)

    async def wait_needed(self, digest: str, cost: int = 1) -> float:
        """Seconds until a request of `cost` by the key with `digest` may go; 0 takes it now.

        A refused request takes nothing, so a client that keeps retrying early stays refused
        only until its bucket refills.
        """
        if not self._interval_us:
            return 0.0
        wait_us = await self._script(
            keys=[keys.rate(digest)], args=[self._interval_us, self.burst, cost]
        )
        return int(wait_us) / 1_000_000
