"""Queueing a target's build: the build task's name, on its kind's queue at its priority."""

from __future__ import annotations

from collections.abc import Callable

from shared.kinds.registry import Registry

BUILD_TASK = "newswire.build_target"


def enqueuer(send_task: Callable[..., object], registry: Registry) -> Callable[[str], None]:
    """Queue a build of a target with `send_task` (`Celery.send_task` or a `TaskSender`)."""

    def enqueue(target: str) -> None:
        send_task(
            BUILD_TASK,
            args=[target],
            queue=registry.queue(target),
            priority=registry.priority(target),
        )

    return enqueue
