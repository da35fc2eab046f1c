"""Whether Redis answers, as the feeds service's /healthz reports it.

Checked in the background, so /healthz answers at once even while Redis is down or hung;
the feeds service keeps serving what it holds either way, so "down" is reported, not failed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import redis.asyncio

RedisState = Literal["unknown", "up", "down"]

_EVERY_S = 1.0
_TIMEOUT_S = 0.5  # a PING slower than this counts as down (a hung server never answers)


class RedisHealth:
    def __init__(self, redis_url: str) -> None:
        self._url = redis_url
        self.state: RedisState = "unknown"

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Probe in the background for as long as the block runs."""
        task = asyncio.create_task(self._probe())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _probe(self) -> None:
        client = redis.asyncio.Redis.from_url(
            self._url, socket_connect_timeout=_TIMEOUT_S, socket_timeout=_TIMEOUT_S
        )
        try:
            while True:
                try:
                    await asyncio.wait_for(client.ping(), _TIMEOUT_S)
                    self.state = "up"
                except (redis.RedisError, TimeoutError, OSError):
                    self.state = "down"
                await asyncio.sleep(_EVERY_S)
        finally:
            await client.aclose()
