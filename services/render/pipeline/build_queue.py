"""Queueing builds: the build task's name, on its kind's queue at its priority.

One task may carry several targets of one queue and priority (an event's feeds, say): the
worker builds them one after the other, each under its own lease, and the broker and the
worker's main process handle one message for all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shared.kinds.registry import Registry

BUILD_TASK = "newswire.build_target"


def enqueuer(send_task: Callable[..., object], registry: Registry) -> Callable[[str], None]:
    """Queue a build of a target with `send_task` (`Celery.send_task` or a `TaskSender`), at
    its kind's priority."""

    def enqueue(target: str) -> None:
        send_task(
            BUILD_TASK,
            args=[target],
            queue=registry.queue(target),
            priority=registry.priority(target),
        )

    return enqueue


# Targets per task: enough to take an article's feeds in one, few enough that the last of
# them never waits long behind the others.
BATCH_MAX = 8


def batch_enqueuer(
    send_task: Callable[..., object], registry: Registry, *, priority: int | None = None
) -> Callable[[Sequence[str]], None]:
    """Queue builds of several targets with `send_task`: a task per queue and priority (and
    per `BATCH_MAX` targets), in order of the targets given; with `priority`, every task at
    that one (PROMOTED, for builds that waited past their promotion delay)."""

    def enqueue_all(targets: Sequence[str]) -> None:
        for (queue, step), group in batches(targets, registry, priority=priority):
            send_task(BUILD_TASK, args=group, queue=queue, priority=step)

    return enqueue_all


def batches(
    targets: Sequence[str], registry: Registry, *, priority: int | None = None
) -> list[tuple[tuple[str, int], list[str]]]:
    """`targets` grouped by (queue, priority), most urgent first, at most `BATCH_MAX` each;
    with `priority`, by queue alone, at that priority."""
    grouped: dict[tuple[str, int], list[str]] = {}
    for target in targets:
        step = registry.priority(target) if priority is None else priority
        grouped.setdefault((registry.queue(target), step), []).append(target)
    return [
        (where, group[start : start + BATCH_MAX])
        for where, group in sorted(grouped.items(), key=lambda item: item[0][1])
        for start in range(0, len(group), BATCH_MAX)
    ]
