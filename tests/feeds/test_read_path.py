"""The read path's own bookkeeping: artifact GETs and HEADs skip the service's middleware, so
the endpoint counts them in /metrics and gives them request ids itself; and the service run
as `python -m services.feeds` (granian, on uvloop) answers as the in-process one does."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.redis_server import free_port
from shared.store.artifacts import encode
from shared.store.filesystem import FilesystemStore
from tests.conftest import wait_until
from tests.feeds.conftest import Feeds, feed_body

REQUESTS = "newswire_http_requests_total"
LATENCY_COUNT = "newswire_http_request_duration_seconds_count"
ANY_PATH = "/{path:path}"
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def counts(client: httpx.Client, base: str) -> dict[tuple[str, str, str, str], float]:
    """Every request counter and latency count, by (sample, route, method, status)."""
    response = client.get(f"{base}/metrics")
    assert response.status_code == 200
    found = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            if s.name in (REQUESTS, LATENCY_COUNT):
                key = (s.name, s.labels["route"], s.labels["method"], s.labels.get("status", ""))
                found[key] = s.value
    return found


def delta(
    before: dict[tuple[str, str, str, str], float], after: dict[tuple[str, str, str, str], float]
) -> dict[tuple[str, str, str, str], float]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def test_artifact_reads_are_counted_by_template_method_and_status(feeds: Feeds) -> None:
    artifact = feeds.publish("feeds/all.rss", feed_body())
    base = feeds.url
    before = counts(feeds.client, base)
    assert feeds.get("feeds/all.rss").status == 200
    assert feeds.get("feeds/all.rss", if_none_match=artifact.etag).status == 304
    assert feeds.get("feeds/all.rss", accept_encoding="gzip").status == 200
    assert feeds.request("HEAD", "feeds/all.rss").status == 200
    assert feeds.get("feeds/none.rss").status == 404
    assert feeds.client.get(f"{base}/").status_code == 404  # the root: no index.html here
    after = counts(feeds.client, base)
    # /metrics itself is counted by the middleware, under its own route.
    assert delta(before, after) == {
        (REQUESTS, ANY_PATH, "GET", "200"): 2,
        (REQUESTS, ANY_PATH, "GET", "304"): 1,
        (REQUESTS, ANY_PATH, "HEAD", "200"): 1,
        (REQUESTS, ANY_PATH, "GET", "404"): 1,
        (REQUESTS, "/", "GET", "404"): 1,
        (LATENCY_COUNT, ANY_PATH, "GET", ""): 4,
        (LATENCY_COUNT, ANY_PATH, "HEAD", ""): 1,
        (LATENCY_COUNT, "/", "GET", ""): 1,
        (REQUESTS, "/metrics", "GET", "200"): 1,
        (LATENCY_COUNT, "/metrics", "GET", ""): 1,
    }


def test_every_artifact_answer_carries_a_request_id(feeds: Feeds) -> None:
    artifact = feeds.publish("feeds/all.rss", feed_body())
    ok = feeds.get("feeds/all.rss", x_request_id="trace-1:abc")
    not_modified = feeds.get("feeds/all.rss", if_none_match=artifact.etag, x_request_id="t-2")
    head = feeds.request("HEAD", "feeds/all.rss", x_request_id="t-3")
    missing = feeds.get("feeds/none.rss", x_request_id="t-4")
    assert [r.headers["x-request-id"] for r in (ok, not_modified, head, missing)] == [
        "trace-1:abc",
        "t-2",
        "t-3",
        "t-4",
    ]
    # An id that could forge a log line is replaced; each request gets its own.
    first = feeds.get("feeds/all.rss", x_request_id="a b").headers.get_list("x-request-id")
    second = feeds.get("feeds/all.rss").headers.get_list("x-request-id")
    assert len(first) == len(second) == 1
    assert GENERATED_ID.fullmatch(first[0]) and GENERATED_ID.fullmatch(second[0])
    assert first != second


@pytest.fixture
def feeds_process(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """`python -m services.feeds` serving a folder, as compose runs it (granian)."""
    root = tmp_path / "artifacts"
    port = free_port()
    env = os.environ | {
        "NEWSWIRE_STORE_BACKEND": "filesystem",
        "NEWSWIRE_ARTIFACT_DIR": str(root),
        "NEWSWIRE_FEEDS_PORT": str(port),
        "NEWSWIRE_FEEDS_BASE_URL": f"http://127.0.0.1:{port}/",
        "NEWSWIRE_FEEDS_SERVER": "granian",
    }
    log = tmp_path / "feeds.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.feeds"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield f"http://127.0.0.1:{port}", process, root
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_service_process_serves_validators_encodings_and_counts(
    feeds_process: tuple[str, subprocess.Popen[bytes], Path], http_client: httpx.Client
) -> None:
    base, process, root = feeds_process
    artifact = encode("feeds/all.rss", feed_body("süreç"), 5)
    FilesystemStore(root).publish("feed:all", [artifact], "1-0")

    def up() -> bool:
        try:
            return http_client.get(f"{base}/healthz").status_code == 200
        except httpx.TransportError:
            return False

    wait_until(up, timeout=30)
    url = f"{base}/feeds/all.rss"
    ok = http_client.get(url)
    assert (ok.status_code, ok.content) == (200, artifact.body)
    assert ok.headers["etag"] == artifact.etag
    assert ok.headers["vary"] == "Accept-Encoding"
    not_modified = http_client.get(url, headers={"If-None-Match": artifact.etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == artifact.etag
    assert GENERATED_ID.fullmatch(not_modified.headers["x-request-id"])
    gzipped = http_client.get(url, headers={"Accept-Encoding": "gzip"})
    assert gzipped.headers["content-encoding"] == "gzip"
    assert gzipped.headers["etag"] != artifact.etag
    assert gzipped.content == artifact.body  # httpx decodes it: the gzip of the same bytes
    head = http_client.head(url, headers={"Accept-Encoding": "br"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-encoding"] == "br"
    assert head.headers["content-length"] == str(len(artifact.br or b""))
    assert http_client.get(f"{base}/feeds/none.rss").status_code == 404
    metrics = counts(http_client, base)
    assert metrics[REQUESTS, ANY_PATH, "GET", "200"] == 2
    assert metrics[REQUESTS, ANY_PATH, "GET", "304"] == 1
    assert metrics[REQUESTS, ANY_PATH, "HEAD", "200"] == 1
    assert metrics[REQUESTS, ANY_PATH, "GET", "404"] == 1

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
