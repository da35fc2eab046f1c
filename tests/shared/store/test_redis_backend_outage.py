"""Redis store while Redis is away: readers serve what they hold, fail the rest with an
error workers retry, and drop what they held once announcements flow again."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from devstack.redis_server import RedisServer
from shared.store import StoreUnavailable
from shared.store.artifacts import encode
from shared.store.redis_backend import RedisStore, RedisUnavailable
from tests.conftest import wait_until

RSS = "feeds/sections/dunya.rss"


def test_while_redis_is_away_readers_serve_what_they_hold_and_fail_the_rest(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        store = RedisStore(
            redis.Redis.from_url(server.url, socket_connect_timeout=1, socket_timeout=5)
        )
        assert store.publish("feed:section:dunya", [encode(RSS, b"<rss>held</rss>", 5)], "1-0")
        assert store.get(RSS) is not None  # starts the listener
        wait_until(store._listening.is_set, timeout=30)
        assert store.get(RSS) is not None  # now held in memory
        assert store.cached(RSS).body == b"<rss>held</rss>"  # type: ignore[union-attr]

        server.kill()
        wait_until(lambda: not store._listening.is_set(), timeout=30)
        assert store.get(RSS).body == b"<rss>held</rss>"  # type: ignore[union-attr]
        assert store.cached(RSS).body == b"<rss>held</rss>"  # type: ignore[union-attr]
        for call in (lambda: store.get("feeds/other.rss"), lambda: store.gone("x.rss")):
            with pytest.raises(RedisUnavailable) as raised:
                call()
            assert isinstance(raised.value, StoreUnavailable)
            assert isinstance(raised.value, redis.ConnectionError)  # workers retry these

        # Back empty (no persistence): once resubscribed, nothing stale is served.
        server.start()
        wait_until(lambda: store.get(RSS) is None, timeout=30)
        store.close()
    finally:
        server.stop()
