"""The dispatcher's /metrics: what it read and acknowledged, and the backlog, read at scrape.

The dispatcher has no HTTP server of its own, so it serves Prometheus on `metrics_port` (0:
none). The backlog (stream, lag, pending, queues by priority, targets by state, dead
letters) is read from Redis when scraped, so every dispatcher reports the same totals.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Protocol

import redis
from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.render.pipeline.backlog import Backlog, read_backlog
from shared.kinds.registry import Registry
from shared.priorities import PRIORITY_STEPS
from shared.settings import Settings

log = logging.getLogger(__name__)


class Counts(Protocol):
    read: int  # entries handled (new, re-read or claimed)
    acked: int  # entries acknowledged

    @property
    def held(self) -> int: ...  # routine builds held back while urgent ones wait


class DispatcherCollector(Collector):
    def __init__(
        self,
        counts: Counts,
        client: redis.Redis,
        broker: redis.Redis,
        settings: Settings,
        registry: Registry,
    ) -> None:
        self._counts = counts
        self._read = lambda: read_backlog(client, broker, settings, registry, PRIORITY_STEPS)

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "newswire_dispatcher_events_read",
            "Stream entries this dispatcher handled (new, read again, or claimed)",
            value=self._counts.read,
        )
        yield CounterMetricFamily(
            "newswire_dispatcher_events_acked",
            "Stream entries this dispatcher acknowledged, their builds queued",
            value=self._counts.acked,
        )
        yield GaugeMetricFamily(
            "newswire_dispatcher_held_builds",
            "Routine builds this dispatcher holds back while urgent ones wait in the broker",
            value=self._counts.held,
        )
        try:
            backlog = self._read()
        except redis.RedisError as exc:
            log.warning("metrics: cannot read the backlog: %s", exc)
            yield GaugeMetricFamily("newswire_redis_up", "Whether Redis answered", value=0)
            return
        yield GaugeMetricFamily("newswire_redis_up", "Whether Redis answered", value=1)
        yield from backlog_metrics(backlog)


def backlog_metrics(backlog: Backlog) -> Iterator[Metric]:
    def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, documentation, value=value)

    yield gauge("newswire_events_stream_length", "Entries in the stream", backlog.stream_length)
    if backlog.events_added is not None:
        yield CounterMetricFamily(
            "newswire_events_added", "Entries ever appended to the stream", backlog.events_added
        )
    yield gauge(
        "newswire_events_pending", "Entries read by a dispatcher, not yet acknowledged",
        backlog.pending,
    )  # fmt: skip
    yield gauge("newswire_events_lag", "Entries not yet read by the consumer group", backlog.lag)
    yield gauge(
        "newswire_events_oldest_unread_age_seconds",
        "Age of the oldest entry not yet read (0: none)",
        (backlog.oldest_unread_ms or 0) / 1000,
    )
    yield gauge("newswire_events_readers", "Consumers in the group", len(backlog.readers))
    yield gauge(
        "newswire_events_reader_idle_seconds_min",
        "Time since the most recent read by any consumer (-1: no consumer)",
        min((r.idle_ms for r in backlog.readers), default=-1000) / 1000,
    )
    queues = GaugeMetricFamily(
        "newswire_queue_depth", "Build and delivery tasks waiting, by queue and priority step",
        labels=["queue", "priority"],
    )  # fmt: skip
    for (queue, step), depth in sorted(backlog.queues.items()):
        queues.add_metric([queue, str(step)], depth)
    yield queues
    yield gauge(
        "newswire_queue_reserved", "Tasks taken by workers, not yet acknowledged", backlog.reserved
    )
    targets = GaugeMetricFamily(
        "newswire_targets", "Targets the coordinator holds, by state", labels=["state"]
    )
    for state in sorted({"queued", "building", "cooling", "retrying", *backlog.targets}):
        targets.add_metric([state], backlog.targets.get(state, 0))
    yield targets
    dead = GaugeMetricFamily("newswire_dead_letters", "Dead letters, by kind", labels=["kind"])
    for kind, count in sorted(backlog.dead_letters.items()):
        dead.add_metric([kind], count)
    yield dead


def serve_metrics(settings: Settings, counts: Counts, registry: Registry) -> None:
    """Serve the dispatcher's /metrics on `settings.metrics_port`, unless it is 0."""
    if not settings.metrics_port:
        return
    # Its own connections, with timeouts: a scrape must never hang on, or hold up, dispatching.
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=2)
    broker_url = settings.broker_url or settings.redis_url
    broker = (
        client
        if broker_url == settings.redis_url
        else redis.Redis.from_url(broker_url, socket_connect_timeout=1, socket_timeout=2)
    )
    metrics = CollectorRegistry()
    ProcessCollector(registry=metrics)
    metrics.register(DispatcherCollector(counts, client, broker, settings, registry))
    try:
        start_http_server(settings.metrics_port, settings.metrics_host, registry=metrics)
    except OSError as exc:  # dispatching matters more than its metrics
        log.warning("cannot serve metrics on port %d: %s", settings.metrics_port, exc)
        return
    log.info("metrics on :%d/metrics", settings.metrics_port)
