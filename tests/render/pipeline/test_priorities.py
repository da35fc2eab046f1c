"""Build priorities in the broker, on a real Valkey: a worker takes urgent builds, then
promoted ones (routine builds that waited past their promotion delay), then routine ones; and
the dispatcher counts promoted builds as waiting ahead of routine ones."""

from __future__ import annotations

import redis
from kombu import Connection

from services.render.pipeline.build_queue import batch_enqueuer
from services.render.pipeline.dispatcher import urgent_waiting
from shared.broker_transport import transport_for
from shared.kinds.registry import Registry
from shared.priorities import PRIORITY_STEPS, PROMOTED
from shared.task_sender import TaskSender


def taken(url: str, queue: str, count: int) -> list[list[str]]:
    """The targets of the next `count` build tasks, in the order a worker takes them."""
    options = {"priority_steps": PRIORITY_STEPS}
    with Connection(url, transport=transport_for(url), transport_options=options) as conn:
        waiting = conn.SimpleQueue(queue)
        found = []
        for _ in range(count):
            message = waiting.get(timeout=2)
            found.append(message.payload[0])  # Celery's body: (args, kwargs, embed)
            message.ack()
        waiting.close()
    return found


def test_urgent_builds_pass_promoted_ones_which_pass_routine_ones(settings):
    registry = Registry.from_settings(settings)
    url = settings.celery_broker_url
    sender = TaskSender(url)
    send = batch_enqueuer(sender, registry)
    promote = batch_enqueuer(sender, registry, priority=PROMOTED)
    send(["feed:tag:nato"])  # routine, first in
    promote(["feed:tag:abd", "feed:author:ayse-yilmaz"])  # routine targets that waited
    send(["feed:section:dunya", "feed:all"])  # urgent, last in
    assert taken(url, "feeds", 3) == [
        ["feed:section:dunya", "feed:all"],
        ["feed:tag:abd", "feed:author:ayse-yilmaz"],
        ["feed:tag:nato"],
    ]


def test_promoted_builds_count_as_waiting_ahead_of_routine_ones(settings):
    registry = Registry.from_settings(settings)
    url = settings.celery_broker_url
    sender = TaskSender(url)
    broker = redis.Redis.from_url(url)  # as the dispatcher reads the broker
    waiting = urgent_waiting(broker, registry)
    batch_enqueuer(sender, registry)(["feed:tag:nato"])
    assert not waiting()  # routine builds alone: nothing ahead of a new routine one
    batch_enqueuer(sender, registry, priority=PROMOTED)(["feed:tag:abd"])
    assert waiting()
    assert taken(url, "feeds", 2) == [["feed:tag:abd"], ["feed:tag:nato"]]
    assert not waiting()
