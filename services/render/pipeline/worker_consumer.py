"""The Celery worker's consumer: Celery's own, but it reconnects to a returning broker within
a second.

Celery's consumer waits 2 s, then 4, 6, … up to 30 s between attempts to reach the broker,
so after an outage of a minute a Redis that is back again would go unused for up to half a
minute. Here attempts come every second at most: one connection attempt a second is nothing
to a Redis that is down, and builds resume as soon as it is up.
"""

from __future__ import annotations

from typing import Any

from celery.worker.consumer import Consumer

_RETRY = {"interval_start": 0.1, "interval_step": 0.3, "interval_max": 1.0}


class PromptConsumer(Consumer):
    def ensure_connected(self, conn: Any) -> Any:
        ensure = conn.ensure_connection

        def ensure_promptly(*args: Any, **kwargs: Any) -> Any:
            return ensure(*args, **{**_RETRY, **kwargs})

        conn.ensure_connection = ensure_promptly
        return super().ensure_connected(conn)
