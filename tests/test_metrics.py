"""Every service's /metrics, scraped from a real stack and read by Prometheus's own parser."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from devstack.stack import Stack
from services.render.pipeline.backlog import queue_keys
from shared.kinds.registry import Registry
from shared.language.slugs import slugify
from shared.priorities import PRIORITY_STEPS
from shared.settings import Settings
from tests.conftest import Databases, load_corpus, running_stack, wait_until

pytestmark = pytest.mark.processes

PUT_ROUTE = "/v1/articles/{article_id}"
ARTIFACT_ROUTE = "/{path:path}"


def scrape(url: str) -> list[Sample]:
    response = requests.get(url, timeout=5)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return [s for family in text_string_to_metric_families(response.text) for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The one sample of `name` with exactly these labels (among others)."""
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]


def label_values(samples: list[Sample], name: str, label: str) -> set[str]:
    return {s.labels[label] for s in samples if s.name == name and label in s.labels}


@pytest.fixture(scope="module")
def metrics_stack(
    tmp_path_factory: pytest.TempPathFactory, databases: Databases
) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("metrics")
    # Every kind of process, each with its own /metrics.
    with running_stack(databases, root, compact=False, NEWSWIRE_CARD_RECENT_DAYS="0") as stack:
        yield stack


@pytest.fixture(scope="module")
def pushed(metrics_stack: Stack) -> list[dict[str, Any]]:
    """Three articles, each written, built, then updated and built again (so the workers'
    caches hold what the second builds read back)."""
    articles = load_corpus()[:3]
    for article in articles:
        assert metrics_stack.put(article).status_code == 201
        metrics_stack.wait_idle(timeout=60)
    for article in articles:
        changed = {**article, "summary": article["summary"] + " (güncellendi)"}
        changed["updated_at"] = "2026-01-19T10:00:00+03:00"
        assert metrics_stack.put(changed).json()["status"] == "updated"
        metrics_stack.wait_idle(timeout=60)
    return articles


def worker_url(stack: Stack, name: str) -> str:
    return f"http://127.0.0.1:{stack.processes.metrics_ports[name]}/metrics"


def test_ingest_counts_requests_by_route_template_and_status(metrics_stack, pushed):
    samples = scrape(metrics_stack.ingest_url + "/metrics")
    puts = len(pushed)
    assert value(samples, "newswire_http_requests_total", route=PUT_ROUTE, status="201") == puts
    assert value(samples, "newswire_http_requests_total", route=PUT_ROUTE, status="200") == puts
    count = value(
        samples, "newswire_http_request_duration_seconds_count", route=PUT_ROUTE, method="PUT"
    )
    assert count == 2 * puts
    buckets = [
        s for s in samples
        if s.name == "newswire_http_request_duration_seconds_bucket"
        and s.labels["route"] == PUT_ROUTE
    ]  # fmt: skip
    assert len(buckets) > 5
    assert max(s.value for s in buckets if s.labels["le"] == "+Inf") == 2 * puts
    # No label anywhere carries an article id.
    assert not [s for s in samples for v in s.labels.values() if pushed[0]["id"] in v]


def test_feeds_labels_requests_by_template_never_by_path(metrics_stack, pushed):
    seed = random.randrange(1 << 30)
    print(f"random seed {seed}")
    rng = random.Random(seed)
    name = "newswire_http_requests_total"

    def random_miss() -> None:
        miss = metrics_stack.feed(f"feeds/xyz-{rng.randrange(1 << 40):x}.rss")
        assert miss.status_code == 404

    path = f"feeds/sections/{slugify(pushed[0]['section'])}.rss"
    start = scrape(metrics_stack.feeds_url + "/metrics")
    served = [
        s.value for s in start
        if s.name == name and s.labels["route"] == ARTIFACT_ROUTE and s.labels["status"] == "200"
    ]  # fmt: skip
    for _ in range(3):
        assert metrics_stack.feed(path).status_code == 200
    random_miss()
    before = scrape(metrics_stack.feeds_url + "/metrics")
    random_miss()
    random_miss()
    after = scrape(metrics_stack.feeds_url + "/metrics")

    assert value(before, name, route=ARTIFACT_ROUTE, status="200") == sum(served) + 3
    assert label_values(after, name, "route") == label_values(before, name, "route")
    assert not [s for s in after for v in s.labels.values() if "xyz-" in v]
    missing = value(after, name, route=ARTIFACT_ROUTE, method="GET", status="404")
    assert missing == value(before, name, route=ARTIFACT_ROUTE, method="GET", status="404") + 2
    assert value(after, "newswire_store_cache_bytes") > 0
    assert value(after, "newswire_store_cache_entries") >= 1
    assert value(after, "newswire_store_cache_max_bytes") == 256 * 1024 * 1024


def test_dispatcher_acknowledged_every_event_and_reports_the_backlog(metrics_stack, pushed):
    db = redis.Redis.from_url(metrics_stack.env["NEWSWIRE_REDIS_URL"])
    written = db.xinfo_stream("nw:events")["entries-added"]
    assert written >= 2 * len(pushed)
    url = worker_url(metrics_stack, "dispatcher")
    samples = wait_until(lambda: _acked_all(url, written), timeout=10)
    assert value(samples, "newswire_dispatcher_events_acked_total") == written
    assert value(samples, "newswire_dispatcher_held_builds") == 0  # nothing waits any more
    assert value(samples, "newswire_events_added_total") == written
    assert value(samples, "newswire_events_pending") == 0
    assert value(samples, "newswire_events_lag") == 0
    assert value(samples, "newswire_redis_up") == 1
    registry = Registry.from_settings(Settings())
    for queue, step in queue_keys(registry, PRIORITY_STEPS):
        assert value(samples, "newswire_queue_depth", queue=queue, priority=str(step)) == 0
    assert {"feeds", "sitemaps", "cards", "websub"} <= label_values(
        samples, "newswire_queue_depth", "queue"
    )
    assert {"queued", "building", "cooling", "retrying"} <= label_values(
        samples, "newswire_targets", "state"
    )
    assert value(samples, "newswire_dead_letters", kind="builds") == 0


def _acked_all(url: str, written: int) -> list[Sample] | None:
    samples = scrape(url)
    return samples if value(samples, "newswire_dispatcher_events_acked_total") == written else None


@pytest.mark.parametrize(("process", "kind"), [("worker", "feed"), ("card-worker", "card")])
def test_workers_count_and_time_builds_across_their_pool(metrics_stack, pushed, process, kind):
    samples = scrape(worker_url(metrics_stack, process))
    published = value(samples, "newswire_builds_total", kind=kind, outcome="published")
    assert published >= len(pushed)
    total = sum(
        s.value for s in samples if s.name == "newswire_builds_total" and s.labels["kind"] == kind
    )
    buckets = {
        s.labels["le"]: s.value
        for s in samples
        if s.name == "newswire_build_duration_seconds_bucket" and s.labels["kind"] == kind
    }
    assert len(buckets) > 5
    assert buckets["+Inf"] == total
    assert value(samples, "newswire_build_duration_seconds_sum", kind=kind) > 0
    assert value(samples, "newswire_worker_cache_bytes") > 0


def test_the_push_worker_serves_metrics_and_builds_nothing(metrics_stack, pushed):
    samples = scrape(worker_url(metrics_stack, "push-worker"))
    assert not [s for s in samples if s.name == "newswire_builds_total"]
