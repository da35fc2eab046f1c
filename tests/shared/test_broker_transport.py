"""The broker transport keeps one Redis client per channel, and is used for redis:// only."""

from __future__ import annotations

import pytest
import redis
from kombu import Connection, Queue
from kombu.message import Message

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


def _taken(connection: Connection, queue: Queue) -> Message:
    taken: list[Message] = []
    with connection.Consumer(queue, callbacks=[lambda _body, message: taken.append(message)]):
        connection.drain_events(timeout=5)
    return taken[0]


def test_leased_tasks_are_taken_without_a_record_and_put_back_when_rejected_or_stopped(
    redis_url: str,
) -> None:
    """kombu records a taken message in Redis until it is acknowledged; a task covered by a
    lease of its own is not, yet it still goes back to its queue when a worker rejects it or
    stops without acknowledging it."""
    db = redis.Redis.from_url(redis_url)
    options = {"leased_tasks": ("newswire.leased",)}
    queue = Queue("qos-test")

    def connect() -> Connection:
        return Connection(redis_url, transport=transport_for(redis_url), transport_options=options)

    with connect() as connection:
        producer = connection.Producer()
        for task in ("newswire.leased", "newswire.recorded"):
            producer.publish({"task": task}, routing_key=queue.name, declare=[queue],
                             headers={"task": task})  # fmt: skip
        leased = _taken(connection, queue)
        assert leased.headers["task"] == "newswire.leased"
        assert db.hlen("unacked") == 0
        recorded = _taken(connection, queue)
        assert recorded.headers["task"] == "newswire.recorded"
        assert db.hlen("unacked") == 1
        leased.ack()
        recorded.ack()
        assert db.hlen("unacked") == 0

        producer.publish({"n": 1}, routing_key=queue.name, headers={"task": "newswire.leased"})
        _taken(connection, queue).reject(requeue=True)
        assert db.llen(queue.name) == 1
        again = _taken(connection, queue)
        assert again.payload == {"n": 1} and db.llen(queue.name) == 0
    # The connection closed with `again` taken and not acknowledged: it is back.
    assert db.llen(queue.name) == 1 and db.hlen("unacked") == 0
    with connect() as connection:
        assert _taken(connection, queue).payload == {"n": 1}
