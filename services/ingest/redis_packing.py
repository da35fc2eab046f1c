"""The Redis client ingest writes with: commands packed by hiredis, in C.

redis-py's asyncio connections pack every command in Python, which for an upsert's script
call (two dozen arguments, one of them the article) costs several times the C packer's
time. The bytes are the same: hiredis packs str (UTF-8), bytes, int and float as redis-py's
encoder does, and anything else is left to redis-py's own packer, so its errors stay too.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import hiredis
import redis.asyncio
from redis.asyncio.connection import AbstractConnection


class _PackedByHiredis(AbstractConnection):
    def pack_command(self, *args: Any) -> list[bytes]:
        # As redis-py does: a command name given with spaces ("SCRIPT EXISTS") is several
        # arguments.
        if isinstance(args[0], str):
            args = (*args[0].encode().split(), *args[1:])
        elif b" " in args[0]:
            args = (*args[0].split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except Exception:  # bool, None, bytearray...: as redis-py packs (or refuses) them
            return super().pack_command(*args)


@cache
def _packed(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    return type(
        f"HiredisPacked{connection_class.__name__}", (_PackedByHiredis, connection_class), {}
    )


def redis_client(url: str, **options: Any) -> redis.asyncio.Redis:
    """`redis.asyncio.Redis.from_url(url, **options)`, its commands packed by hiredis (for
    redis://, rediss:// and unix:// URLs alike)."""
    client = redis.asyncio.Redis.from_url(url, **options)
    pool = client.connection_pool
    # Read when the pool opens a connection, which it has not yet: the URL chose the class.
    pool.connection_class = _packed(pool.connection_class)
    return client
