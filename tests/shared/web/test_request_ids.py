"""Request ids and unexpected errors, in both services served for real: every answer names
its request; an error no handler expected is logged with its traceback and that id and
answered 500 in the one JSON shape, with nothing internal in it. The errors are real ones,
caused by data in Redis that the code does not expect."""

from __future__ import annotations

import logging

import pytest
import requests

from services.feeds.app import create_app as create_feeds
from services.ingest.app import create_app as create_ingest
from shared.state import redis_keys
from shared.store import make_store
from shared.store.artifacts import encode
from tests.conftest import API_KEY, live_server

RSS = "feeds/all.rss"


def assert_internal_error(response: requests.Response, caplog: pytest.LogCaptureFixture) -> str:
    """The one error shape, the request id in header and message, nothing internal; the log
    has the traceback under that id. Returns the id."""
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    request_id = response.headers["x-request-id"]
    error = response.json()["error"]
    assert error == {
        "status": 500,
        "code": "internal_error",
        "message": f"unexpected error; quote request id {request_id} when reporting it",
        "fields": [],
    }
    logged = [r for r in caplog.records if r.name == "newswire.requests"]
    assert any(request_id in r.getMessage() and r.exc_info for r in logged), logged
    return request_id


@pytest.fixture
def ingest_url(settings):
    with live_server(create_ingest(settings)) as url:
        yield url


@pytest.fixture
def redis_feeds(settings):
    settings = settings.model_copy(update={"store_backend": "redis"})
    store = make_store(settings)
    with live_server(create_feeds(settings, store)) as url:
        yield url, store
    store.close()


def test_feeds_answers_a_corrupt_artifact_with_500_in_the_one_shape(redis_feeds, db, caplog):
    url, store = redis_feeds
    assert store.publish("feed:all", [encode(RSS, b"<rss/>", 5)], "1-0")
    # The stored time of the artifact is garbage: reading it fails in a way no code expects.
    db.hset(f"nw:artifact:{RSS}", "modified", "not-a-time")
    db.publish("nw:artifacts:changed", RSS)  # so a cached copy is dropped
    caplog.set_level(logging.ERROR, "newswire.requests")

    def corrupt_answer() -> requests.Response:
        return requests.get(f"{url}/{RSS}", timeout=5)

    response = corrupt_answer()
    while response.status_code == 200:  # until the announcement has reached the cache
        response = corrupt_answer()
    assert_internal_error(response, caplog)
    assert "not-a-time" not in response.text and "ValueError" not in response.text
    # The service goes on serving: other paths answer as before.
    assert requests.get(f"{url}/healthz", timeout=5).json()["status"] == "ok"
    assert requests.get(f"{url}/feeds/none.rss", timeout=5).status_code == 404


def test_ingest_answers_a_corrupt_stored_article_with_500_in_the_one_shape(
    ingest_url, db, seed_article, caplog
):
    caplog.set_level(logging.ERROR, "newswire.requests")
    # The article's key holds a string, not a hash: Redis refuses the write (WRONGTYPE),
    # which is no outage (never a 503) but a fault.
    db.set(redis_keys.article(seed_article["id"]), "not a hash")
    auth = {"Authorization": f"Bearer {API_KEY}"}
    response = requests.put(
        f"{ingest_url}/v1/articles/{seed_article['id']}", json=seed_article, headers=auth, timeout=5
    )
    request_id = assert_internal_error(response, caplog)
    assert "WRONGTYPE" not in response.text and "redis" not in response.text.lower()
    assert len(request_id) == 32  # generated: the client sent none


@pytest.mark.parametrize(
    ("sent", "honoured"),
    [
        ("req-2026-01-18:abc.123", True),
        ("0b6f1c2e-8d3a-4f7e-9c1d-5e2a7b8c9d0f", True),
        ("two words", False),
        ("x" * 129, False),
        ("a\u00e7", False),
    ],
)
def test_a_sane_client_id_is_kept_and_any_other_replaced(ingest_url, redis_feeds, sent, honoured):
    feeds_url, _ = redis_feeds
    header = {"X-Request-Id": sent.encode("utf-8").decode("latin-1")}
    for response in (
        requests.get(f"{ingest_url}/v1/articles/missing", headers=header, timeout=5),  # 401
        requests.get(f"{feeds_url}/feeds/none.rss", headers=header, timeout=5),  # 404
        requests.get(f"{feeds_url}/healthz", headers=header, timeout=5),  # 200
    ):
        got = response.headers["x-request-id"]
        assert (got == sent) is honoured
        assert len(got) == len(sent) if honoured else len(got) == 32


def test_every_error_answer_carries_a_request_id(ingest_url):
    response = requests.put(
        f"{ingest_url}/v1/articles/x",
        data=b"{",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert len(response.headers["x-request-id"]) == 32


def test_an_unreachable_redis_is_503_not_500(settings, seed_article, own_redis_server):
    on_own = settings.model_copy(update={"redis_url": own_redis_server.url})
    with live_server(create_ingest(on_own)) as url:
        own_redis_server.stop()
        auth = {"Authorization": f"Bearer {API_KEY}"}
        response = requests.put(
            f"{url}/v1/articles/{seed_article['id']}", json=seed_article, headers=auth, timeout=10
        )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["message"] == "storage unavailable; retry shortly"
