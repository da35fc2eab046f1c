"""The broker transport keeps one Redis client per channel, and is used for redis:// only."""

from __future__ import annotations

import pytest
import redis
from kombu import Connection

from services.render.pipeline.celery_app import make_celery
from shared.broker_transport import Transport, transport_for
from shared.settings import Settings
from shared.task_sender import TaskSender


@pytest.mark.parametrize(
    ("url", "ours"),
    [
        ("redis://127.0.0.1:6379/0", True),
        ("rediss://redis.example:6380/0", False),
        ("sentinel://127.0.0.1:26379", False),
        ("redis+socket:///run/redis.sock", False),
    ],
)
def test_only_plain_redis_urls_get_it(url: str, ours: bool) -> None:
    assert (transport_for(url) is not None) is ours


def test_a_channel_keeps_its_client_until_its_pool_is_replaced(redis_url: str) -> None:
    with Connection(redis_url, transport=transport_for(redis_url)) as connection:
        channel = connection.default_channel
        assert isinstance(connection.transport, Transport)
        client = channel._create_client()
        assert channel._create_client() is client
        with channel.conn_or_acquire() as acquired:
            assert acquired is client and acquired.ping()
        channel._pool = None  # as after a reconnect
        assert channel._create_client() is not client
        assert channel._create_client(asynchronous=True) is not channel._create_client()


def test_workers_and_senders_use_it(settings: Settings) -> None:
    app = make_celery(settings)
    with app.connection_for_write() as connection:
        assert isinstance(connection.transport, Transport)
    sender = TaskSender(settings.celery_broker_url)
    try:
        sender("newswire.nothing", [], "transport-test")
        assert isinstance(sender._connection.transport, Transport)  # type: ignore[union-attr]
    finally:
        sender.close()
        redis.Redis.from_url(settings.celery_broker_url).delete("transport-test")
