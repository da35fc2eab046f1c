"""kombu's Redis transport, with one client per channel for its synchronous commands.

kombu makes a new `redis.Redis` for each publish and for each message's bookkeeping (taken
and acknowledged), and building one costs ~60 µs of CPU on these machines: a task paid for
three. A client is only a handle on the channel's connection pool, safe to share between
threads, so each channel keeps one, and a new one when its pool is replaced (a reconnect).
The asynchronous client (the worker's BRPOP) is kombu's own.

kombu also records every message a worker takes in Redis (its "unacked" hash and index, in
one round trip), to hand it out again should the worker die, and removes it at the
acknowledgement (another). Tasks named in the transport option `leased_tasks` skip both:
whatever they do is covered by a lease of their own, which runs out long before the
broker's visibility timeout would, so the record only costs two round trips a task. They are
kept in memory like any message, so a worker that stops, or rejects one, puts them back in
their queue as kombu does for any other.

Workers and every `TaskSender` use it for a `redis://` broker (`transport_for`); any other
scheme (rediss://, sentinel://, redis+socket://) keeps the transport kombu picks for it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual


class QoS(kombu_redis.QoS):
    """kombu's Redis bookkeeping of taken messages, except for leased tasks' messages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unrecorded: set[str] = set()  # delivery tags kept in memory only

    def append(self, message: Any, delivery_tag: str) -> None:
        if message.headers.get("task") in self.channel.leased_tasks:
            self._unrecorded.add(delivery_tag)
            virtual.QoS.append(self, message, delivery_tag)
        else:
            super().append(message, delivery_tag)

    def ack(self, delivery_tag: str) -> None:
        if delivery_tag in self._unrecorded:
            self._unrecorded.discard(delivery_tag)
            virtual.QoS.ack(self, delivery_tag)
        else:
            super().ack(delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if delivery_tag in self._unrecorded:
            virtual.QoS.reject(self, delivery_tag, requeue)  # through Channel._restore
            self._unrecorded.discard(delivery_tag)
        else:
            super().reject(delivery_tag, requeue)

    def restore_unacked(self, client: Any = None) -> None:
        """At shutdown: every message taken and not acknowledged goes back to its queue."""
        for tag in [tag for tag in self._delivered if tag in self._unrecorded]:
            self.channel._restore(self._delivered.pop(tag))
        self._unrecorded.clear()
        super().restore_unacked(client)


class Channel(kombu_redis.Channel):
    QoS = QoS
    from_transport_options = (*kombu_redis.Channel.from_transport_options, "leased_tasks")
    leased_tasks: tuple[str, ...] = ()
    _sync_client: Any = None

    def _restore(self, message: Any, leftmost: bool = False) -> None:
        if message.delivery_tag in self.qos._unrecorded:
            # No record in Redis to restore it from: put back the message itself.
            virtual.Channel._restore(self, message)
        else:
            super()._restore(message, leftmost)

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
