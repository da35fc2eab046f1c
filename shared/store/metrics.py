"""Prometheus gauges of an artifact store's memory cache, read when scraped."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from shared.store import ArtifactStore


def cache_gauges(store: ArtifactStore, registry: CollectorRegistry) -> None:
    """Report what `store`'s memory cache holds and may hold, in `registry`."""
    cache = store.cache
    gauges = (
        ("newswire_store_cache_bytes", "Bytes of artifacts held in memory", lambda: cache.bytes),
        ("newswire_store_cache_entries", "Artifacts held in memory", lambda: cache.entries),
        ("newswire_store_cache_max_bytes", "The memory cache's budget", lambda: cache.max_bytes),
    )
    for name, documentation, read in gauges:
        Gauge(name, documentation, registry=registry).set_function(read)
