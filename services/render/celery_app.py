"""The Celery app: configuration, queue routing and the build task (a thin adapter)."""

from __future__ import annotations

from collections.abc import Callable

import redis
from celery import Celery
from celery.signals import worker_process_init
from kombu import Queue

from services.render.builds import BuildContext, build_target
from services.render.coordinator import Coordinator
from services.render.kinds import Registry
from services.render.kinds.base import ROUTINE, URGENT
from shared.article_reader import ArticleReader
from shared.fetcher import Fetcher, FetchPolicy
from shared.settings import Settings
from shared.store import make_store
from shared.sweeper import Sweeper

BUILD_TASK = "newswire.build_target"


def enqueuer(app: Celery, registry: Registry) -> Callable[[str], None]:
    """Queue a build of a target on its kind's queue, at its priority."""

    def enqueue(target: str) -> None:
        app.send_task(
            BUILD_TASK,
            args=[target],
            queue=registry.queue(target),
            priority=registry.priority(target),
        )

    return enqueue


def make_context(
    settings: Settings, enqueue: Callable[[str], None], registry: Registry | None = None
) -> BuildContext:
    client = redis.Redis.from_url(settings.redis_url)
    return BuildContext(
        settings=settings,
        redis=client,
        reader=ArticleReader(client),
        store=make_store(settings),
        coordinator=Coordinator(client, settings),
        registry=registry or Registry.from_settings(settings),
        sweeper=Sweeper(client, settings),
        enqueue=enqueue,
        fetcher=Fetcher(FetchPolicy.from_settings(settings)),
    )


def make_celery(settings: Settings, registry: Registry | None = None) -> Celery:
    """A Celery app whose tasks build targets with a per-process `BuildContext`."""
    registry = registry or Registry.from_settings(settings)
    app = Celery("newswire", broker=settings.celery_broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        # A worker started without --queues consumes every kind's queue.
        task_queues=[Queue(name) for name in registry.queues],
        task_default_queue=registry.queues[0],
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        # Only a backstop: a lost build is requeued by the coordinator's lease long before.
        broker_transport_options={"visibility_timeout": 3600, "priority_steps": [URGENT, ROUTINE]},
    )
    context: dict[str, BuildContext] = {}

    def _context() -> BuildContext:
        if "ctx" not in context:
            context["ctx"] = make_context(settings, enqueuer(app, registry), registry)
        return context["ctx"]

    @worker_process_init.connect(weak=False)
    def _fresh_context(**_: object) -> None:
        # Connections must not cross a fork.
        context.clear()

    @app.task(name=BUILD_TASK)
    def build(target: str) -> str:
        return build_target(target, _context())

    return app
