"""The workers' Celery app: configuration, queues, the build task and the WebSub tasks."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import redis
from celery import Celery
from celery.signals import worker_process_init
from kombu import Queue

from services.render.feed.formats import ENTRY_CACHE
from services.render.pipeline.build_metrics import BuildMetrics, BuildObserver
from services.render.pipeline.build_queue import BUILD_TASK, enqueuer
from services.render.pipeline.builds import BuildContext, build_target
from services.render.pipeline.coordinator import Coordinator
from services.render.pipeline.rendering import Renderers
from services.render.websub.delivery import WebSub, publish_hook, register_tasks
from shared import websub
from shared.broker_transport import transport_for
from shared.kinds.registry import Registry
from shared.net.fetcher import Fetcher, FetchPolicy
from shared.priorities import PRIORITY_STEPS
from shared.settings import Settings
from shared.state.article_reader import ArticleReader
from shared.state.sweeper import Sweeper
from shared.store import make_store
from shared.task_sender import TaskSender

_MB = 1024 * 1024


def make_context(
    settings: Settings,
    enqueue: Callable[[str], None],
    registry: Registry | None = None,
    send_task: websub.SendTask | None = None,
) -> BuildContext:
    """A build context; with `send_task`, publishes are announced to WebSub subscribers."""
    client = redis.Redis.from_url(settings.redis_url)
    ENTRY_CACHE.resize(settings.feed_entry_cache_mb * _MB)
    announce = []
    if send_task is not None:
        announce.append(publish_hook(settings, websub.Subscriptions(client, settings), send_task))
    return BuildContext(
        settings=settings,
        redis=client,
        reader=ArticleReader(client, settings.reader_cache_mb * _MB),
        store=make_store(settings),
        coordinator=Coordinator(client, settings, registry),
        renderers=Renderers(registry or Registry.from_settings(settings)),
        sweeper=Sweeper(client, settings),
        enqueue=enqueue,
        fetcher=Fetcher(FetchPolicy.from_settings(settings)),
        after_publish=announce,
    )


def make_celery(settings: Settings, registry: Registry | None = None) -> Celery:
    """A Celery app whose tasks build targets with a per-process `BuildContext`."""
    registry = registry or Registry.from_settings(settings)
    app = Celery("newswire", broker=settings.celery_broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        # A worker started without --queues consumes every kind's queue, and WebSub's.
        task_queues=[Queue(name) for name in (*registry.queues, websub.QUEUE)],
        task_default_queue=registry.queues[0],
        task_routes={"newswire.websub.*": {"queue": websub.QUEUE}},
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        # Back within a second of the broker's return, not Celery's up to 30 s; and never
        # given up on (a worker that exits during an outage builds nothing after it).
        worker_consumer="services.render.pipeline.worker_consumer:PromptConsumer",
        broker_connection_max_retries=None,
        # A lost build is requeued by its target's lease, so the broker keeps no record of
        # a build task taken (two round trips a task); the timeout is for WebSub's tasks.
        broker_transport_options={
            "visibility_timeout": 3600,
            "priority_steps": PRIORITY_STEPS,
            "leased_tasks": (BUILD_TASK,),
        },
        broker_transport=transport_for(settings.celery_broker_url),
    )
    context: dict[str, BuildContext] = {}
    websub_context: dict[str, WebSub] = {}
    senders: dict[str, TaskSender] = {}

    def _sender() -> TaskSender:
        # Builds queue their follow-ups and WebSub notifications, and a notification its
        # deliveries: with Celery's own send_task each cost twice the CPU.
        if "sender" not in senders:
            senders["sender"] = TaskSender(settings.celery_broker_url)
        return senders["sender"]

    def _context() -> BuildContext:
        if "ctx" not in context:
            enqueue = enqueuer(_sender(), registry)
            context["ctx"] = make_context(settings, enqueue, registry, _sender())
        return context["ctx"]

    def _websub() -> WebSub:
        if "ctx" not in websub_context:
            ctx = _context()
            subscriptions = websub.Subscriptions(ctx.redis, settings)
            websub_context["ctx"] = WebSub(
                settings, subscriptions, ctx.store, ctx.fetcher, _sender()
            )
        return websub_context["ctx"]

    @worker_process_init.connect(weak=False)
    def _fresh_context(**_: object) -> None:
        # Connections must not cross a fork.
        context.clear()
        websub_context.clear()
        senders.clear()

    observe = BuildObserver(_context, BuildMetrics() if settings.metrics_port else None)

    @app.task(name=BUILD_TASK)
    def build(*targets: str) -> str:
        """Build each target in turn (an event's feeds come in one task); the outcomes."""
        ctx = _context()
        return ",".join(observe(target, partial(build_target, target, ctx)) for target in targets)

    register_tasks(app, _websub)
    return app
