"""Leases: at a high rate a process takes several requests' worth from the shared bucket at
once; the bucket still never allows more than its limit, across processes."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio

from services.ingest.rate_limit import LEASE_TTL_SECONDS, RateLimiter
from shared.settings import Settings


class Counting(RateLimiter):
    """A limiter that counts its Redis calls, on a clock the test moves."""

    def __init__(self, client: redis.asyncio.Redis, per_second: float, burst: int) -> None:
        self.now = 1000.0
        super().__init__(client, per_second, burst, clock=lambda: self.now)
        self.calls = 0

    async def _take(self, digest: str, cost: int) -> int:
        self.calls += 1
        return await super()._take(digest, cost)


def run(settings: Settings, test: Any) -> Any:
    async def go() -> Any:
        client = redis.asyncio.Redis.from_url(settings.redis_url)
        try:
            return await test(client)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_a_lease_serves_many_requests_with_one_redis_call(settings):
    async def test(client: redis.asyncio.Redis) -> tuple[int, int, list[float]]:
        limiter = Counting(client, per_second=2000, burst=4000)
        waits = [await limiter.wait_needed("k") for _ in range(200)]
        return limiter.lease, limiter.calls, waits

    lease, calls, waits = run(settings, test)
    assert lease == 20  # 10 ms at 2,000 requests/s
    assert calls == 200 // lease
    assert set(waits) == {0.0}


def test_leases_never_let_two_processes_past_the_burst(settings):
    # A burst of 40 and a request per 1,000 s: nothing refills during the test, however slow
    # the machine, so exactly 40 may pass between two limiters leasing 10 at a time.
    async def test(client: redis.asyncio.Redis) -> tuple[int, float, int]:
        first, second = Counting(client, 1000, 40), Counting(client, 1000, 40)
        first._interval_us = second._interval_us = 10**9  # leases as at 1,000/s
        allowed = 0
        last_wait = 0.0
        for turn in range(100):
            wait = await (first if turn % 3 else second).wait_needed("k")
            allowed += wait == 0
            last_wait = wait or last_wait
        return allowed, last_wait, first.lease

    allowed, last_wait, lease = run(settings, test)
    assert lease == 10
    assert allowed <= 40
    assert allowed >= 40 - 2 * lease  # at most a lease each left unspent
    assert last_wait > 0  # the refused were told how long to wait


def test_an_unspent_lease_is_forfeited_after_its_time(settings):
    async def test(client: redis.asyncio.Redis) -> tuple[int, int]:
        limiter = Counting(client, per_second=2000, burst=4000)
        await limiter.wait_needed("k")
        limiter.now += LEASE_TTL_SECONDS + 0.1
        await limiter.wait_needed("k")
        return limiter.calls, limiter.lease

    calls, _ = run(settings, test)
    assert calls == 2  # the second request did not spend what the first leased


def test_at_a_low_rate_every_request_asks_redis(settings):
    async def test(client: redis.asyncio.Redis) -> tuple[int, int, list[float]]:
        limiter = Counting(client, per_second=5, burst=3)
        waits = [await limiter.wait_needed("k") for _ in range(5)]
        return limiter.lease, limiter.calls, waits

    lease, calls, waits = run(settings, test)
    assert (lease, calls) == (1, 5)
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert all(wait > 0 for wait in waits[3:])
