"""How a Celery worker logs: in `settings.log_format`, Celery's own lines included.

Celery configures logging itself unless a `setup_logging` receiver does it instead; ours
applies `shared.log_format`, at the level given on the command line. In JSON mode what
Celery prints rather than logs (the startup banner, shutdown notices) is logged instead, so
every line is a JSON object. Each build task's lines, Celery's own succeeded and failed ones
included, carry its target.
"""

from __future__ import annotations

import logging
from contextvars import Token
from typing import Any

from celery import Celery
from celery.apps import worker as celery_worker
from celery.apps.worker import Worker
from celery.signals import celeryd_after_setup, setup_logging, task_postrun, task_prerun

from services.render.pipeline.build_queue import BUILD_TASK
from shared.log_format import bind_log_context, configure_logging, reset_log_context
from shared.settings import Settings

log = logging.getLogger("celery.apps.worker")


def install(app: Celery, settings: Settings) -> None:
    """Log `app`'s worker in `settings.log_format`; call it where the worker's app is made."""
    configure_logging(settings)  # what is logged before the worker sets logging up
    if settings.log_format == "json":
        # Celery writes its shutdown and restart notices straight to the terminal.
        celery_worker.safe_say = lambda message, *_: log.info("%s", message)

    @setup_logging.connect(weak=False)
    def _configure(loglevel: int | str | None = None, **_: Any) -> None:
        configure_logging(settings, loglevel or logging.INFO)

    @celeryd_after_setup.connect(weak=False)
    def _started(instance: Worker, **_: Any) -> None:
        if settings.log_format == "json":
            instance.quiet = True  # the banner goes to stdout as is: log it instead
            log.info("%s%s", instance.startup_info(artlines=False), instance.extra_info() or "")
        # What Celery does when it configures logging itself: print() and stray writes to
        # stderr become log lines (a receiver of setup_logging turns that off).
        if instance.redirect_stdouts:
            app.log.redirect_stdouts(instance.redirect_stdouts_level)

    bound: dict[str, Token[Any]] = {}

    @task_prerun.connect(weak=False)
    def _bind_target(sender: Any = None, task_id: str = "", args: Any = (), **_: Any) -> None:
        ours = getattr(sender, "name", None) == BUILD_TASK and getattr(sender, "app", None) is app
        if ours and args:  # a task's targets; each of its builds logs its own as well
            bound[task_id] = bind_log_context(target=",".join(map(str, args)))

    @task_postrun.connect(weak=False)
    def _unbind_target(task_id: str = "", **_: Any) -> None:
        token = bound.pop(task_id, None)
        if token is not None:
            reset_log_context(token)
