"""A Redis client that keeps what it sends, one entry per round trip."""

from __future__ import annotations

import redis


class Sent(list[bytes]):
    """What a counted client sent: one entry per round trip, its commands packed."""


def counted_client(url: str) -> tuple[redis.Redis, Sent]:
    """A client of `url`, and the list its round trips are kept in."""
    sent = Sent()

    class Counted(redis.Connection):
        def send_packed_command(self, command, check_health=True):  # one call per round trip
            packed = command if isinstance(command, bytes) else b"".join(command)
            sent.append(packed)
            super().send_packed_command(command, check_health)

    pool = redis.ConnectionPool.from_url(url, connection_class=Counted)
    return redis.Redis(connection_pool=pool), sent
