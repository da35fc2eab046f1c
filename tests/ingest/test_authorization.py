"""Who may call the ingest API: keys (configured and in Redis), scopes, ownership and rate
limits, over real HTTP against a real Redis."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests

from services.cli.api_keys import create_key, revoke_key
from services.ingest.app import create_app
from shared.settings import Settings
from tests.conftest import API_KEY, OTHER_API_KEY, live_server

AUTH = {"Authorization": f"Bearer {API_KEY}"}
OTHER = {"Authorization": f"Bearer {OTHER_API_KEY}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def ingest(settings: Settings) -> Iterator[str]:
    with live_server(create_app(settings)) as url:
        yield url


@pytest.fixture
def client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url)


def put(url: str, article: dict[str, Any], headers: dict[str, str]) -> requests.Response:
    return requests.put(f"{url}/v1/articles/{article['id']}", json=article, headers=headers)


def assert_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["status"], error["code"], error["fields"]) == (status, code, [])
    return error


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({}, "send 'Authorization: Bearer"),
        ({"Authorization": ""}, "send 'Authorization: Bearer"),
        ({"Authorization": "Bearer"}, "malformed"),
        ({"Authorization": "Bearer    "}, "malformed"),
        ({"Authorization": f"Basic {API_KEY}"}, "malformed"),
        ({"Authorization": f"Token {API_KEY}"}, "malformed"),
        ({"Authorization": f"Bearer {API_KEY} extra"}, "malformed"),
        ({"Authorization": "Bearer kéy"}, "malformed"),
        ({"Authorization": "Bearer " + "a" * 513}, "malformed"),
        ({"Authorization": "Bearer test-key-nobody"}, "unknown API key"),
        ({"Authorization": f"Bearer {API_KEY}x"}, "unknown API key"),
    ],
)
def test_missing_malformed_and_wrong_keys_are_401(ingest, seed_article, headers, says):
    for response in (
        put(ingest, seed_article, headers),
        requests.get(f"{ingest}/v1/articles/{seed_article['id']}", headers=headers),
        requests.get(f"{ingest}/v1/keys", headers=headers),
    ):
        error = assert_error(response, 401, "unauthorized")
        assert says in error["message"]
        assert response.headers["www-authenticate"] == "Bearer"
    # The scheme is case-insensitive, as RFC 9110 says.
    assert put(ingest, seed_article, {"Authorization": f"bearer {API_KEY}"}).status_code == 201


def test_a_key_created_in_redis_works_at_once_and_a_revoked_one_within_a_second(
    ingest, client, settings, seed_article
):
    token, key = create_key(client, "newsroom", ["articles:write"])
    assert put(ingest, seed_article, bearer(token)).status_code == 201
    # A configured key of the same publisher reaches the same article.
    assert requests.get(f"{ingest}/v1/articles/{seed_article['id']}", headers=AUTH).ok
    url = f"{ingest}/v1/articles/{seed_article['id']}"
    for _ in range(20):  # the key is in ingest's cache now
        assert requests.get(url, headers=bearer(token)).status_code == 200

    revoke_key(client, key.id, settings)
    revoked_at = time.monotonic()
    while (response := requests.get(url, headers=bearer(token))).status_code == 200:
        assert time.monotonic() - revoked_at < 5, "a revoked key is still accepted after 5 s"
        time.sleep(0.005)
    refused_after = time.monotonic() - revoked_at
    print(f"revoked key refused {refused_after * 1000:.0f} ms after `keys revoke` returned")
    error = assert_error(response, 401, "unauthorized")
    assert "revoked" in error["message"]
    assert refused_after < 1.0
    for _ in range(10):  # and stays refused, for every route
        assert requests.get(url, headers=bearer(token)).status_code == 401
    assert put(ingest, seed_article, bearer(token)).status_code == 401
    assert requests.delete(url, headers=bearer(token)).status_code == 401


def test_a_route_refuses_a_key_without_its_scope_with_403(ingest, client, seed_article):
    writer_token, writer = create_key(client, "newsroom", ["articles:write"])
    admin_token, admin = create_key(client, "operations", ["admin"])
    for headers in (AUTH, bearer(writer_token)):
        error = assert_error(requests.get(f"{ingest}/v1/keys", headers=headers), 403, "forbidden")
        assert "'admin' scope" in error["message"]

    listing = requests.get(f"{ingest}/v1/keys", headers=bearer(admin_token))
    assert listing.status_code == 200
    listed = {entry["id"]: entry for entry in listing.json()["keys"]}
    assert listed[writer.id] == {
        "id": writer.id,
        "publisher": "newsroom",
        "scopes": ["articles:write"],
        "created": writer.created,
        "revoked": None,
        "source": "redis",
    }
    assert listed[admin.id]["scopes"] == ["admin"]
    configured = {e["publisher"] for e in listed.values() if e["source"] == "NEWSWIRE_API_KEYS"}
    assert configured == {"newsroom", "other"}
    # Neither secrets nor whole digests leave the server.
    assert writer_token not in listing.text and admin_token not in listing.text
    assert writer.digest not in listing.text and admin.digest not in listing.text
    # admin may do whatever articles:write may.
    assert put(ingest, seed_article, bearer(admin_token)).status_code == 201


def test_another_publishers_article_is_403_and_logged_with_both_publishers(
    ingest, seed_article, caplog
):
    caplog.set_level(logging.WARNING, logger="services.ingest.audited_writer")
    assert put(ingest, seed_article, AUTH).status_code == 201
    article_id = seed_article["id"]
    url = f"{ingest}/v1/articles/{article_id}"
    changed = {**seed_article, "title": "Ele geçirildi", "updated_at": "2026-01-19T00:00:00Z"}

    assert_error(put(ingest, changed, OTHER), 403, "forbidden")
    assert_error(requests.delete(url, headers=OTHER), 403, "forbidden")
    batch = requests.post(
        f"{ingest}/v1/articles:batch", json={"articles": [changed]}, headers=OTHER
    )
    assert batch.json()["results"][0]["status"] == "forbidden"
    assert_error(requests.get(url, headers=OTHER), 403, "forbidden")

    refusals = [r for r in caplog.records if r.name == "services.ingest.audited_writer"]
    assert [r.levelno for r in refusals] == [logging.WARNING] * 3
    for record, verb in zip(refusals, ("change", "retract", "change"), strict=True):
        assert record.getMessage() == (
            f"refused: publisher 'other' tried to {verb} article {article_id!r}, "
            "which belongs to publisher 'newsroom'"
        )
    assert requests.get(url, headers=AUTH).json()["article"]["title"] == seed_article["title"]


@pytest.fixture
def limited(settings: Settings) -> Iterator[str]:
    """Ingest with a small limit: 1 request/s, bursts of 5."""
    tight = settings.model_copy(update={"rate_limit_per_s": 1.0, "rate_limit_burst": 5})
    with live_server(create_app(tight)) as url:
        yield url


def test_a_hammered_key_gets_429_with_retry_after_and_other_keys_do_not(
    limited, client, seed_article
):
    same_publisher, _ = create_key(client, "newsroom", ["articles:write"])
    article_id = seed_article["id"]
    url = f"{limited}/v1/articles/{article_id}"
    other_article = {**seed_article, "id": "other-" + article_id}
    began = time.monotonic()
    hammered: list[requests.Response] = []
    others: list[requests.Response] = []
    for _ in range(25):
        hammered.append(put(limited, seed_article, AUTH))
        if len(hammered) % 5 == 0:  # the other keys stay within their burst
            others.append(put(limited, other_article, OTHER))
            others.append(requests.get(url, headers=bearer(same_publisher)))
    elapsed = time.monotonic() - began

    statuses = [r.status_code for r in hammered]
    print(f"hammered key over {elapsed:.2f} s: {statuses}")
    assert statuses[:5] == [201, 200, 200, 200, 200], statuses
    refused = [r for r in hammered if r.status_code == 429]
    allowed = len(hammered) - len(refused)
    assert refused, statuses
    # At most the burst plus what the steady rate refilled meanwhile.
    assert allowed <= 5 + int(elapsed * 1) + 1, (allowed, elapsed)
    for response in refused:
        error = assert_error(response, 429, "rate_limited")
        assert int(response.headers["retry-after"]) >= 1
        assert f"retry after {response.headers['retry-after']} s" in error["message"]
    assert [r.status_code for r in others] == [201, 200, 200, 200, 200, 200, 200, 200, 200, 200]

    time.sleep(int(refused[-1].headers["retry-after"]))
    assert put(limited, seed_article, AUTH).status_code == 200


def test_the_limit_holds_across_ingest_servers(limited, settings, seed_article):
    """The bucket lives in Redis, so a second ingest server (its own app, limiter and Redis
    connection) draws on the same one."""
    tight = settings.model_copy(update={"rate_limit_per_s": 1.0, "rate_limit_burst": 5})
    with live_server(create_app(tight)) as second:
        began = time.monotonic()
        statuses = [put(url, seed_article, AUTH).status_code for url in [limited, second] * 10]
        elapsed = time.monotonic() - began
    print(f"one key over two ingest servers, {elapsed:.2f} s: {statuses}")
    allowed = sum(status != 429 for status in statuses)
    assert 5 <= allowed <= 5 + int(elapsed * 1) + 1, (allowed, elapsed)
    assert statuses[:5] == [201, 200, 200, 200, 200]
