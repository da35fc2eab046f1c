"""Counting builds: each build of a task feeds Prometheus and the last build of each kind.

The build task runs each of its targets through a `BuildObserver`, so the build code itself
stays free of metrics. The outcome is what the build returned (published, superseded,
skipped, retried, dead), or `failed` when an exception escaped it. In a prefork worker these
run in the pool child that built; `worker_metrics` merges the children's counts.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

import redis
from prometheus_client import Counter, Gauge, Histogram

from services.render.pipeline import last_builds
from services.render.pipeline.builds import BuildContext
from shared.log_format import log_context

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


class BuildObserver:
    """Counts and times each build of a task (a task may carry several targets), recording
    the newest of each kind in Redis; with `metrics`, in Prometheus too. Every line logged
    during a build carries its target."""

    def __init__(self, context: Callable[[], BuildContext], metrics: BuildMetrics | None) -> None:
        self._context = context
        self._metrics = metrics

    def __call__(self, target: str, build: Callable[[], str]) -> str:
        """Run `build` (of `target`) and observe it; returns its outcome, or "failed" when
        it raised (logged: the task's other targets still build)."""
        started = time.perf_counter()
        with log_context(target=target):
            try:
                outcome = build()
            except Exception:
                log.exception("build of %s failed", target)
                outcome = "failed"
            self._record(target, outcome, time.perf_counter() - started)
        return outcome if _OUTCOME.fullmatch(outcome) else "other"

    def _record(self, target: str, outcome: str, seconds: float) -> None:
        ctx = self._context()
        try:
            kind = ctx.renderers.registry.kind(target).name
        except ValueError:
            kind = "unknown"  # a malformed name must not become a label
        if self._metrics is not None:
            self._metrics.builds.labels(kind, outcome).inc()
            self._metrics.duration.labels(kind).observe(seconds)
            self._metrics.cache_bytes.set(ctx.store.cache.bytes)
            self._metrics.cache_entries.set(ctx.store.cache.entries)
        # Nothing was owed: not a build worth showing. A published one was recorded with its
        # finish (`build_target`).
        if outcome in ("skipped", "published"):
            return
        try:
            last = last_builds.LastBuild(kind, target, outcome, time.time(), seconds)
            last_builds.record(ctx.redis, last)
        except redis.RedisError as exc:
            log.warning("could not record the last %s build: %s", kind, exc)
