"""The Celery app: configuration, queue routing and the build task (a thin adapter)."""

from __future__ import annotations

import redis
from celery import Celery
from celery.signals import worker_process_init

from services.render.builds import BuildContext, build_target
from services.render.coordinator import Coordinator
from shared.articles import ArticleReader
from shared.settings import Settings
from shared.store import make_store

BUILD_TASK = "newswire.build_target"
QUEUES = ("feeds", "sitemaps", "cards")


# With the Redis broker, 0 is the highest priority; a worker always takes the most urgent
# message first, so the site-wide and section feeds never wait behind tag and author feeds.
URGENT, ROUTINE = 0, 6
_URGENT_PREFIXES = ("feed:all", "feed:section:")


def queue_for(target: str) -> str:
    """The queue a target's builds run on, so operators can scale each kind of work."""
    kind = target.partition(":")[0]
    return {"feed": "feeds", "sitemap": "sitemaps", "card": "cards"}[kind]


def priority_for(target: str) -> int:
    """How urgent a build is: what most readers and crawlers fetch goes first."""
    return URGENT if target.startswith(_URGENT_PREFIXES) else ROUTINE


def make_context(settings: Settings) -> BuildContext:
    client = redis.Redis.from_url(settings.redis_url)
    return BuildContext(
        settings=settings,
        reader=ArticleReader(client),
        store=make_store(settings),
        coordinator=Coordinator(client, settings),
    )


def make_celery(settings: Settings) -> Celery:
    """A Celery app whose tasks build targets with a per-process `BuildContext`."""
    app = Celery("newswire", broker=settings.celery_broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_default_queue="feeds",
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
            context["ctx"] = make_context(settings)
        return context["ctx"]

    @worker_process_init.connect(weak=False)
    def _fresh_context(**_: object) -> None:
        # Connections must not cross a fork.
        context.clear()

    @app.task(name=BUILD_TASK)
    def build(target: str) -> str:
        return build_target(target, _context())

    return app
