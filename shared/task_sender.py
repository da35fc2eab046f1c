"""Queueing Celery tasks by name through kombu alone, for processes that run no tasks.

The dispatcher and the feeds service queue tasks (builds; WebSub verifications) but never run
one. A Celery app would load the worker's machinery into them, and the worker's app loads
every renderer; this writes the message a `Celery.send_task` writes (task protocol 2), so
the workers cannot tell the difference. Queues and priority steps are the workers' own.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Sequence

from kombu import Connection, Producer

from shared.broker_transport import transport_for
from shared.priorities import PRIORITY_STEPS

# Celery's own publish retry policy: a broker blip costs a moment, not the message.
_RETRY_POLICY = {"max_retries": 3, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


class TaskSender:
    """Sends tasks to named queues; thread-safe, one broker connection per process."""

    def __init__(self, broker_url: str, timeout_s: float | None = None) -> None:
        """`timeout_s` bounds each connect, send and read on the broker: a process that sends
        while answering a request gives it, so a hung broker holds no request for long."""
        self._broker_url = broker_url
        self._transport_options: dict[str, object] = {"priority_steps": PRIORITY_STEPS}
        if timeout_s is not None:
            self._transport_options |= {
                "socket_timeout": timeout_s,
                "socket_connect_timeout": timeout_s,
            }
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._lock = threading.Lock()
        self._origin = f"{os.getpid()}@{socket.gethostname()}"

    def __call__(
        self, name: str, args: Sequence[object], queue: str, priority: int | None = None
    ) -> str:
        """Queue task `name` with positional `args` on `queue`; returns the task id.

        Raises:
            kombu.exceptions.OperationalError: the broker stayed unreachable.
        """
        task_id = str(uuid.uuid4())
        args = list(args)
        headers = {
            "lang": "py",
            "task": name,
            "id": task_id,
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [None, None],
            "root_id": task_id,
            "parent_id": None,
            "argsrepr": repr(args),
            "kwargsrepr": "{}",
            "origin": self._origin,
            "ignore_result": False,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        }
        body = (args, {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None})
        with self._lock:
            try:
                self._publish(body, queue, headers, task_id, priority)
            except Exception:
                # A connection that failed mid-publish is not reused: the next task starts
                # on a fresh one, whenever the broker is back.
                self._drop()
                raise
        return task_id

    def _publish(
        self, body: object, queue: str, headers: dict, task_id: str, priority: int | None
    ) -> None:
        if self._producer is None:
            self._connection = Connection(
                self._broker_url,
                transport=transport_for(self._broker_url),
                transport_options=self._transport_options,
            )
            self._producer = Producer(self._connection)
        # The default exchange with the queue's name as routing key puts the message straight
        # into that queue, as Celery does for its plain queues.
        self._producer.publish(
            body,
            exchange="",
            routing_key=queue,
            serializer="json",
            headers=headers,
            correlation_id=task_id,
            reply_to="",
            priority=priority,
            delivery_mode=2,
            retry=True,
            retry_policy=_RETRY_POLICY,
        )

    def _drop(self) -> None:
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to release cleanly
                connection.release()

    def close(self) -> None:
        with self._lock:
            self._drop()
