"""Counting builds: Celery's task signals feed Prometheus and the last build of each kind.

Hooked to the build task's prerun and postrun signals, so the build code itself stays free of
metrics. The outcome is what the task returned (published, superseded, skipped, retried,
dead), or `failed` when an exception escaped it. In a prefork worker these run in the pool
child that built; `worker_metrics` merges the children's counts.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

import redis
from celery import Celery
from celery.signals import task_postrun, task_prerun
from prometheus_client import Counter, Gauge, Histogram

from services.render.pipeline import last_builds
from services.render.pipeline.builds import BuildContext

log = logging.getLogger(__name__)

# A card with a photo takes ~20 ms, a month's sitemap at a million articles ~1 s.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_OUTCOME = re.compile(r"[a-z_]{1,20}")


class BuildMetrics:
    """Builds by kind and outcome, their durations, and what the worker's cache holds.

    Not registered anywhere: in a worker they live in prometheus_client's multiprocess files.
    """

    def __init__(self) -> None:
        self.builds = Counter(
            "newswire_builds", "Builds by kind and outcome", ["kind", "outcome"], registry=None
        )
        self.duration = Histogram(
            "newswire_build_duration_seconds",
            "How long builds took, by kind (every outcome)",
            ["kind"],
            buckets=DURATION_BUCKETS,
            registry=None,
        )
        # Per pool process, summed over the live ones.
        self.cache_bytes = Gauge(
            "newswire_worker_cache_bytes",
            "Bytes of artifacts the worker's processes hold in memory",
            multiprocess_mode="livesum",
            registry=None,
        )
        self.cache_entries = Gauge(
            "newswire_worker_cache_entries",
            "Artifacts the worker's processes hold in memory",
            multiprocess_mode="livesum",
            registry=None,
        )


def outcome_of(state: str | None, retval: object) -> str:
    """The outcome label of a finished task; bounded to a few short words."""
    if state == "SUCCESS":
        return retval if isinstance(retval, str) and _OUTCOME.fullmatch(retval) else "other"
    if state == "RETRY":
        return "retried"
    if state == "FAILURE":
        return "failed"
    return (state or "unknown").lower()


def observe_builds(
    app: Celery,
    task_name: str,
    context: Callable[[], BuildContext],
    metrics: BuildMetrics | None,
) -> None:
    """Count and time every run of `task_name` on `app`, recording the newest of each kind in
    Redis; with `metrics`, in Prometheus too."""
    started: dict[str, float] = {}

    def ours(sender: Any) -> bool:
        return getattr(sender, "name", None) == task_name and getattr(sender, "app", None) is app

    @task_prerun.connect(weak=False)
    def _start(sender: Any = None, task_id: str = "", **_: Any) -> None:
        if ours(sender):
            started[task_id] = time.perf_counter()

    @task_postrun.connect(weak=False)
    def _finish(
        sender: Any = None,
        task_id: str = "",
        args: Any = (),
        retval: object = None,
        state: str | None = None,
        **_: Any,
    ) -> None:
        if not ours(sender) or task_id not in started:
            return
        seconds = time.perf_counter() - started.pop(task_id)
        target = str(args[0]) if args else ""
        ctx = context()
        try:
            kind = ctx.renderers.registry.kind(target).name
        except ValueError:
            kind = "unknown"  # a malformed name must not become a label
        outcome = outcome_of(state, retval)
        if metrics is not None:
            metrics.builds.labels(kind, outcome).inc()
            metrics.duration.labels(kind).observe(seconds)
            metrics.cache_bytes.set(ctx.store.cache.bytes)
            metrics.cache_entries.set(ctx.store.cache.entries)
        if outcome == "skipped":  # nothing was owed: not a build worth showing
            return
        try:
            last = last_builds.LastBuild(kind, target, outcome, time.time(), seconds)
            last_builds.record(ctx.redis, last)
        except redis.RedisError as exc:
            log.warning("could not record the last %s build: %s", kind, exc)
