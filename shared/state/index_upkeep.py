"""Upkeep of time-bounded indexes: entries that aged out of a window are dropped."""

from __future__ import annotations

import redis


def drop_older(client: redis.Redis, index: str, before_ms: int, payloads: str | None = None) -> int:
    """Remove the members of sorted set `index` scored before `before_ms`, and their payloads.

    Returns:
        How many were removed.
    """
    aged = client.zrangebyscore(index, "-inf", f"({before_ms}")
    if aged:
        pipe = client.pipeline(transaction=False)
        pipe.zrem(index, *aged)
        if payloads is not None:
            pipe.hdel(payloads, *aged)
        pipe.execute()
    return len(aged)
