"""Who may call the ingest API: keys (configured and in Redis), scopes, ownership and rate
limits, over real HTTP against a real Redis."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import redis.asyncio
import requests

from services.cli.api_keys import create_key, revoke_key
from services.ingest.app import create_app
from services.ingest.auth import CACHE_SECONDS, ApiKeys
from services.ingest.errors import Unauthorized
from shared.settings import Settings
from tests.conftest import API_KEY, OTHER_API_KEY, live_server

AUTH = {"Authorization": f"Bearer {API_KEY}"}
OTHER = {"Authorization": f"Bearer {OTHER_API_KEY}"}
# How long a test waits for a refusal that must come: many times what it takes.
REFUSAL_DEADLINE_S = 30.0


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


def refused_in_the_end(url: str, headers: dict[str, str]) -> requests.Response:
    """GET `url` until the answer is not 200; fails if it stays 200 for REFUSAL_DEADLINE_S."""
    deadline = time.monotonic() + REFUSAL_DEADLINE_S
    started = time.monotonic()
    while (response := requests.get(url, headers=headers)).status_code == 200:
        if time.monotonic() > deadline:
            pytest.fail(f"a revoked key was still accepted after {REFUSAL_DEADLINE_S} s")
        time.sleep(0.005)
    print(f"revoked key refused {(time.monotonic() - started) * 1000:.0f} ms after the revocation")
    return response


def test_a_key_created_in_redis_works_at_once_and_a_revoked_one_is_refused(
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
    response = refused_in_the_end(url, bearer(token))
    error = assert_error(response, 401, "unauthorized")
    assert "revoked" in error["message"]
    for _ in range(10):  # and stays refused, for every route
        assert requests.get(url, headers=bearer(token)).status_code == 401
    assert put(ingest, seed_article, bearer(token)).status_code == 401
    assert requests.delete(url, headers=bearer(token)).status_code == 401


def test_a_revoked_key_is_trusted_from_memory_for_at_most_the_cache_time(client, settings):
    # On a clock the test moves: how long a revocation may go unseen is ingest's own bound,
    # whatever the machine's speed.
    token, key = create_key(client, "newsroom", ["articles:write"])
    header = f"Bearer {token}"
    now = read_at = 1000.0

    async def check() -> None:
        nonlocal now
        connection = redis.asyncio.Redis.from_url(settings.redis_url)
        try:
            keys = ApiKeys(connection, {}, clock=lambda: now)
            assert (await keys.caller(header)).publisher == "newsroom"
            revoke_key(client, key.id, settings)
            now = read_at + CACHE_SECONDS * 0.99
            assert (await keys.caller(header)).publisher == "newsroom"  # held in memory
            now = read_at + CACHE_SECONDS
            with pytest.raises(Unauthorized, match="revoked"):
                await keys.caller(header)
        finally:
            await connection.aclose()

    asyncio.run(check())


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


def test_another_publishers_article_is_refused_unnamed_and_logged_with_both_publishers(
    ingest, seed_article, caplog
):
    caplog.set_level(logging.WARNING, logger="services.ingest.audited_writer")
    assert put(ingest, seed_article, AUTH).status_code == 201
    article_id = seed_article["id"]
    url = f"{ingest}/v1/articles/{article_id}"
    changed = {**seed_article, "title": "Ele geçirildi", "updated_at": "2026-01-19T00:00:00Z"}

    # The caller learns that the id is not its to write, and nothing of whose it is.
    assert_error(put(ingest, changed, OTHER), 409, "conflict")
    assert_error(requests.delete(url, headers=OTHER), 404, "not_found")
    batch = requests.post(
        f"{ingest}/v1/articles:batch", json={"articles": [changed]}, headers=OTHER
    )
    assert batch.json()["results"][0]["status"] == "conflict"
    assert_error(requests.get(url, headers=OTHER), 404, "not_found")

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


@dataclass(frozen=True)
class Sent:
    """One request and when it was under way, on Redis's clock (the one the limit uses)."""

    response: requests.Response
    before_us: int  # just before it was sent
    after_us: int  # just after its answer came


def redis_now_us(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return seconds * 1_000_000 + micros


def send(client: redis.Redis, request: Callable[[], requests.Response]) -> Sent:
    before = redis_now_us(client)
    response = request()
    return Sent(response, before, redis_now_us(client))


def allowance(sent: list[Sent], per_second: float, burst: int) -> tuple[int, int]:
    """The fewest and the most requests GCRA may have allowed of `sent`: one key's requests
    from a rested bucket, one after another, the last of them refused. Derived from when
    they were sent, so they hold at any speed.

    Most: each allowed request moves the bucket's time one interval ahead, and a request is
    allowed only while that is at most `burst` intervals ahead of now.
    Fewest: the last request was refused, so the bucket was `burst` intervals ahead of it;
    it only moves ahead by allowed requests, counted from where it last fell behind the
    clock (a rested bucket). That takes a pause between two requests longer than how far
    ahead the first left it: an interval if it was allowed, `burst - 1` intervals if not.
    """
    assert sent[-1].response.status_code == 429
    interval = 1_000_000 / per_second
    most = burst + int((sent[-1].after_us - sent[0].before_us) // interval)

    def may_have_rested(i: int) -> bool:
        ahead = interval if sent[i - 1].response.status_code != 429 else (burst - 1) * interval
        return sent[i].after_us - sent[i - 1].before_us > ahead

    rested = max((i for i in range(1, len(sent)) if may_have_rested(i)), default=0)
    fewest = burst + int((sent[-1].before_us - sent[rested].after_us) // interval)
    return fewest, most


def test_a_hammered_key_gets_429_with_retry_after_and_other_keys_do_not(
    limited, client, seed_article
):
    same_publisher, _ = create_key(client, "newsroom", ["articles:write"])
    article_id = seed_article["id"]
    url = f"{limited}/v1/articles/{article_id}"
    other_article = {**seed_article, "id": "other-" + article_id}
    hammered: list[Sent] = []
    others: list[requests.Response] = []
    deadline = time.monotonic() + REFUSAL_DEADLINE_S
    # At least 25, and on until one is refused: however slow the machine, the key keeps
    # asking faster than one request a second, so it is refused in the end.
    while len(hammered) < 25 or hammered[-1].response.status_code != 429:
        assert time.monotonic() < deadline, "the hammered key was never refused"
        hammered.append(send(client, lambda: put(limited, seed_article, AUTH)))
        if len(hammered) <= 25 and len(hammered) % 5 == 0:  # the others stay in their burst
            others.append(put(limited, other_article, OTHER))
            others.append(requests.get(url, headers=bearer(same_publisher)))

    statuses = [s.response.status_code for s in hammered]
    span = (hammered[-1].after_us - hammered[0].before_us) / 1e6
    print(f"hammered key over {span:.2f} s: {statuses}")
    assert statuses[:5] == [201, 200, 200, 200, 200], statuses
    refused = [s.response for s in hammered if s.response.status_code == 429]
    allowed = len(hammered) - len(refused)
    # The burst plus what the steady rate refilled meanwhile: no more, and no fewer.
    fewest, most = allowance(hammered, per_second=1.0, burst=5)
    assert fewest <= allowed <= most, (fewest, allowed, most)
    for response in refused:
        error = assert_error(response, 429, "rate_limited")
        assert int(response.headers["retry-after"]) >= 1
        assert f"retry after {response.headers['retry-after']} s" in error["message"]
    assert [r.status_code for r in others] == [201, 200, 200, 200, 200, 200, 200, 200, 200, 200]

    time.sleep(int(refused[-1].headers["retry-after"]))
    assert put(limited, seed_article, AUTH).status_code == 200


def test_the_limit_holds_across_ingest_servers(client, settings, seed_article):
    """The bucket lives in Redis, so a second ingest server (its own app, limiter and Redis
    connection) draws on the same one. At one request per 100 s nothing refills during the
    test, so the two servers together allow the burst exactly, where a bucket each would
    allow it twice."""
    slow = settings.model_copy(update={"rate_limit_per_s": 0.01, "rate_limit_burst": 5})
    with live_server(create_app(slow)) as first, live_server(create_app(slow)) as second:
        sent = [
            send(client, lambda u=url: put(u, seed_article, AUTH)) for url in [first, second] * 10
        ]
    statuses = [s.response.status_code for s in sent]
    print(f"one key over two ingest servers: {statuses}")
    assert statuses[:5] == [201, 200, 200, 200, 200]
    assert statuses[-1] == 429
    fewest, most = allowance(sent, per_second=0.01, burst=5)
    assert fewest <= sum(status != 429 for status in statuses) <= most, (fewest, most, statuses)
    assert 429 in statuses[5::2] and 429 in statuses[6::2]  # each server refused some
