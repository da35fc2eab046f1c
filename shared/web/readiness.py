"""Readiness (`GET /readyz`): whether the Redis servers a service needs answer it.

Each server is pinged in the background, once a second, so /readyz answers at once even
while one hangs, and however often orchestrators ask, Redis sees one ping a second. A ping
slower than a request may wait on Redis (`redis_request_timeout_s`) counts as down: requests
would fail meanwhile. Liveness (`/healthz`) asks none of this: restarting a process cures no
Redis outage.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Literal

import redis.asyncio
from starlette.requests import Request
from starlette.responses import JSONResponse

State = Literal["up", "down"]

# The probe's own pace by default: asking again sooner learns nothing new.
_RETRY_AFTER = {"Retry-After": "1"}


class RedisProbe:
    """One server's state: "down" until a ping has answered, then what the last ping found."""

    def __init__(self, url: str, timeout_s: float, every_s: float) -> None:
        self.state: State = "down"
        self.checked = asyncio.Event()  # set once the first ping answered or failed
        self._timeout_s, self._every_s = timeout_s, every_s
        # Made here, so a malformed URL stops the service at its start, by name.
        self._client = redis.asyncio.Redis.from_url(
            url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
        )

    async def run(self) -> None:
        try:
            while True:
                await self._ping()
                self.checked.set()
                await asyncio.sleep(self._every_s)
        finally:
            self.checked.set()  # whatever ended the probe, nobody waits on it for ever
            await self._client.aclose()

    async def _ping(self) -> None:
        try:
            # The bound holds even where the socket timeouts do not (e.g. a slow DNS answer).
            await asyncio.wait_for(self._client.ping(), self._timeout_s)
            self.state = "up"
        except (redis.RedisError, TimeoutError, OSError):
            self.state = "down"


class Readiness:
    """The Redis servers a service needs, each under the name /readyz reports it by
    (e.g. `{"redis": settings.redis_url}`)."""

    def __init__(self, needs: Mapping[str, str], timeout_s: float, every_s: float = 1.0) -> None:
        # One probe a server: a broker on the data's Redis is pinged once, reported twice.
        by_url: dict[str, RedisProbe] = {}
        for url in needs.values():
            if url not in by_url:
                by_url[url] = RedisProbe(url, timeout_s, every_s)
        self._probes = list(by_url.values())
        self._named = {name: by_url[url] for name, url in needs.items()}

    @asynccontextmanager
    async def probing(self) -> AsyncIterator[None]:
        """Probe for as long as the block runs. The block is entered once every server has
        answered a first ping or failed to (within the timeout), so /readyz never reports a
        guess."""
        tasks = [asyncio.create_task(probe.run()) for probe in self._probes]
        try:
            await asyncio.gather(*(probe.checked.wait() for probe in self._probes))
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def states(self) -> dict[str, State]:
        return {name: probe.state for name, probe in self._named.items()}

    async def endpoint(self, _: Request) -> JSONResponse:
        """200 `{"status": "ready", "redis": "up", ...}` while every server answers; else 503
        `{"status": "unavailable", ...}` naming the one that is down, with Retry-After."""
        states = self.states()
        if all(state == "up" for state in states.values()):
            return JSONResponse({"status": "ready", **states})
        return JSONResponse(
            {"status": "unavailable", **states}, status_code=503, headers=_RETRY_AFTER
        )
