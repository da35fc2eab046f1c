"""The task sender writes the message Celery's own `send_task` writes, to the list a worker
reads at that priority, and outlives a broker that went away."""

from __future__ import annotations

import json
import threading

import pytest
import redis
from celery import Celery
from kombu.exceptions import OperationalError
from kombu.transport.redis import Channel

from devstack.redis_server import RedisServer
from shared.priorities import PRIORITY_STEPS, PROMOTED, ROUTINE, URGENT
from shared.task_sender import TaskSender
from tests.redis_hang import hung

TASK, QUEUE = "newswire.build_target", "feeds"


def queued(url: str, key: str) -> list[dict]:
    return [json.loads(raw) for raw in redis.Redis.from_url(url).lrange(key, 0, -1)]


def celery_message(url: str, priority: int) -> dict:
    app = Celery("reference", broker=url, set_as_current=False)
    app.conf.broker_transport_options = {"priority_steps": PRIORITY_STEPS}
    app.conf.task_serializer = "json"
    app.send_task(TASK, args=["feed:section:dunya"], queue=QUEUE, priority=priority)
    key = QUEUE if priority == PRIORITY_STEPS[0] else f"{QUEUE}{Channel.sep}{priority}"
    [message] = queued(url, key)
    redis.Redis.from_url(url).delete(key)
    return message


@pytest.mark.parametrize("priority", [URGENT, PROMOTED, ROUTINE])
def test_the_message_is_celerys_own_on_the_list_of_its_priority(redis_url, priority):
    reference = celery_message(redis_url, priority)
    task_id = TaskSender(redis_url)(TASK, ["feed:section:dunya"], QUEUE, priority)
    key = QUEUE if priority == URGENT else f"{QUEUE}{Channel.sep}{priority}"
    [message] = queued(redis_url, key)

    assert message["headers"]["id"] == task_id
    assert set(message["headers"]) == set(reference["headers"])
    for name in ("lang", "task", "retries", "timelimit", "argsrepr", "kwargsrepr", "eta"):
        assert message["headers"][name] == reference["headers"][name], name
    for name in ("content-type", "content-encoding", "body"):
        assert message[name] == reference[name], name
    ours, theirs = message["properties"], reference["properties"]
    assert ours["priority"] == theirs["priority"] == priority
    assert ours["delivery_info"] == theirs["delivery_info"]
    assert ours["correlation_id"] == task_id


def test_a_broker_that_went_away_is_used_again_once_back(own_redis_server: RedisServer):
    send = TaskSender(own_redis_server.url)
    send(TASK, ["feed:all"], QUEUE)
    assert len(queued(own_redis_server.url, QUEUE)) == 1
    own_redis_server.kill()  # and its data with it: it keeps nothing on disk
    with pytest.raises(OperationalError):
        send(TASK, ["feed:all"], QUEUE)
    own_redis_server.start()
    task_id = send(TASK, ["feed:sections:dunya"], QUEUE)
    [message] = queued(own_redis_server.url, QUEUE)
    assert message["headers"]["id"] == task_id


def test_with_a_timeout_a_hung_broker_fails_the_send_instead_of_holding_it(
    own_redis_server: RedisServer,
):
    send = TaskSender(own_redis_server.url, timeout_s=0.2)
    send(TASK, ["feed:all"], QUEUE)  # connected
    outcome: list[BaseException | str] = []

    def hung_send() -> None:
        try:
            send(TASK, ["feed:all"], QUEUE)
            outcome.append("sent")
        except BaseException as exc:
            outcome.append(exc)

    with hung(own_redis_server):
        thread = threading.Thread(target=hung_send, daemon=True)
        thread.start()
        thread.join(timeout=30)  # generous: the sender's own timeouts end it far sooner
        assert outcome, "the send was still waiting on the hung broker"
    assert isinstance(outcome[0], OperationalError | redis.RedisError), outcome
    send(TASK, ["feed:all"], QUEUE)  # and once the broker moves again, sends go through
