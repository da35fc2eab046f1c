"""Redis store: hosts that share no disk, kept current by pub/sub invalidation."""

from __future__ import annotations

from collections.abc import Callable

import redis

from shared.store.artifacts import encode
from shared.store.redis_backend import _CHANNEL, RedisStore
from tests.conftest import wait_until

RSS = "feeds/sections/dunya.rss"


def test_reader_sees_another_hosts_publish(
    redis_store_factory: Callable[[], RedisStore], redis_url: str
) -> None:
    reader, writer = redis_store_factory(), redis_store_factory()
    assert writer.publish("feed:section:dunya", [encode(RSS, b"<rss>v1</rss>", 5)], "1-0")
    assert reader.get(RSS) is not None
    # Until its subscription is up the reader fetches every time; after, it caches.
    wait_until(reader._listening.is_set, timeout=2)
    assert reader.get(RSS).body == b"<rss>v1</rss>"  # type: ignore[union-attr]

    # Prove the reader now answers from memory: a change behind its back goes unseen...
    client = redis.Redis.from_url(redis_url)
    client.hset(f"nw:artifact:{RSS}", "body", b"<rss>unannounced</rss>")
    client.close()
    assert reader.get(RSS).body == b"<rss>v1</rss>"  # type: ignore[union-attr]

    # ...while a publish from another store instance reaches it through the announcement.
    assert writer.publish("feed:section:dunya", [encode(RSS, b"<rss>v2</rss>", 5)], "2-0")
    wait_until(lambda: reader.get(RSS).body == b"<rss>v2</rss>", timeout=2)  # type: ignore[union-attr]


def test_reader_sees_a_path_that_was_missing(redis_store_factory: Callable[[], RedisStore]) -> None:
    reader, writer = redis_store_factory(), redis_store_factory()
    for _ in range(3):
        assert reader.get(RSS) is None
    assert writer.publish("feed:section:dunya", [encode(RSS, b"<rss>new</rss>", 5)], "1-0")
    wait_until(lambda: reader.get(RSS) is not None, timeout=2)


def test_refused_publish_announces_nothing(
    redis_store_factory: Callable[[], RedisStore], redis_url: str
) -> None:
    reader, writer = redis_store_factory(), redis_store_factory()
    listener = redis.Redis.from_url(redis_url).pubsub()
    listener.subscribe(_CHANNEL)
    assert listener.get_message(timeout=2)["type"] == "subscribe"  # type: ignore[index]

    def announced_until(marker: str) -> list[str]:
        """Announcements up to and including `marker`: they arrive in publish order."""
        seen: list[str] = []
        while marker not in seen:
            message = listener.get_message(timeout=2)
            assert message is not None, f"no announcement of {marker} arrived; got {seen}"
            seen.append(message["data"].decode())
        return seen

    # The positive control: this listener does see what an accepted publish announces.
    assert writer.publish("feed:all", [encode("feeds/all.rss", b"new", 5)], "9-0")
    assert announced_until("feeds/all.rss") == ["feeds/all.rss"]
    wait_until(lambda: reader.get("feeds/all.rss") is not None, timeout=2)

    assert writer.publish("feed:all", [encode("feeds/all.rss", b"old", 5)], "5-0") is False
    # A later accepted publish closes the window: had the refused one announced anything,
    # it would come before this.
    assert writer.publish("feed:section:son", [encode(RSS, b"<rss>son</rss>", 5)], "10-0")
    assert announced_until(RSS) == [RSS]
    listener.close()
    assert reader.get("feeds/all.rss").body == b"new"  # type: ignore[union-attr]
    assert RedisStore(writer._redis).get("feeds/all.rss").body == b"new"  # type: ignore[union-attr]
