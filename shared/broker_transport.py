"""kombu's Redis transport, with one client per channel for its synchronous commands.

kombu makes a new `redis.Redis` for each publish and for each message's bookkeeping (taken
and acknowledged), and building one costs ~60 µs of CPU on these machines: a task paid for
three. A client is only a handle on the channel's connection pool, safe to share between
threads, so each channel keeps one, and a new one when its pool is replaced (a reconnect).
The asynchronous client (the worker's BRPOP) is kombu's own.

Workers and every `TaskSender` use it for a `redis://` broker (`transport_for`); any other
scheme (rediss://, sentinel://, redis+socket://) keeps the transport kombu picks for it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _sync_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)
        client = self._sync_client
        if client is None or client.connection_pool is not self.pool:
            client = self._sync_client = super()._create_client()
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel


def transport_for(broker_url: str) -> str | None:
    """The transport for `broker_url`, as Celery's `broker_transport` and kombu's
    `Connection(transport=...)` take it; None leaves kombu's choice by the URL's scheme."""
    return f"{__name__}:Transport" if urlsplit(broker_url).scheme == "redis" else None
