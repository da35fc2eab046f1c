"""What a key learns of another publisher's articles over the ingest API, over real HTTP
against a real Redis: reading or retracting one is answered exactly as for an id no one has,
byte for byte; a write to one names neither its owner nor its revision, whether the article
is live, embargoed or retracted, and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
import requests

from services.ingest.app import create_app
from shared.settings import Settings
from tests.conftest import API_KEY, OTHER_API_KEY, live_server

A = {"Authorization": f"Bearer {API_KEY}"}  # the site's publisher, who owns the articles
B = {"Authorization": f"Bearer {OTHER_API_KEY}"}  # another publisher
# Headers that differ between any two answers.
PER_REQUEST = {"x-request-id", "date"}


@pytest.fixture
def ingest(settings: Settings) -> Iterator[str]:
    with live_server(create_app(settings)) as url:
        yield url


@pytest.fixture
def db(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url)


def answer(response: requests.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    """What a client sees of a response, but for what differs between any two."""
    headers = sorted((k.lower(), v) for k, v in response.headers.items())
    return response.status_code, [h for h in headers if h[0] not in PER_REQUEST], response.content


def article_url(ingest: str, article_id: str) -> str:
    return f"{ingest}/v1/articles/{article_id}"


def put(ingest: str, article: dict[str, Any], headers: dict[str, str]) -> requests.Response:
    return requests.put(article_url(ingest, article["id"]), json=article, headers=headers)


def batch(ingest: str, articles: list[dict[str, Any]], headers: dict[str, str]) -> Any:
    response = requests.post(
        f"{ingest}/v1/articles:batch", json={"articles": articles}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()["results"]


def b_sees(ingest: str, article: dict[str, Any]) -> dict[str, Any]:
    """Everything B can ask of the id of `article`, with B's own content under it."""
    url = article_url(ingest, article["id"])
    newer = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0).isoformat()
    mine = {**article, "title": "B'nin haberi", "published_at": newer, "updated_at": newer}
    return {
        "get": answer(requests.get(url, headers=B)),
        "delete": answer(requests.delete(url, headers=B)),
        "put": answer(put(ingest, mine, B)),
        "batch": batch(ingest, [mine], B),
    }


def stored(db: redis.Redis, article_id: str) -> dict[bytes, bytes]:
    return db.hgetall(f"nw:article:{article_id}")


def test_reading_or_retracting_anothers_article_is_answered_as_for_an_unknown_id(
    ingest, db, seed_article
):
    article_id = seed_article["id"]
    url = article_url(ingest, article_id)
    # Before anyone has the id: what B gets for an id no one has.
    unknown = {
        "get": answer(requests.get(url, headers=B)),
        "delete": answer(requests.delete(url, headers=B)),
    }
    assert unknown["get"][0] == unknown["delete"][0] == 404
    assert stored(db, article_id) == {}

    embargo = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    states = {
        "live": seed_article,
        # The same article held back: hidden everywhere until the embargo ends.
        "embargoed": {
            **seed_article,
            "published_at": embargo.isoformat(),
            "updated_at": embargo.isoformat(),
        },
    }
    for state, version in states.items():
        assert put(ingest, version, A).status_code in (200, 201), state
        before, events = stored(db, article_id), db.xlen("nw:events")
        for route, seen in unknown.items():
            request = requests.get if route == "get" else requests.delete
            assert answer(request(url, headers=B)) == seen, (state, route)
        assert (stored(db, article_id), db.xlen("nw:events")) == (before, events), state
    assert requests.delete(url, headers=A).json()["status"] == "retracted"
    # Retracted: A gets 410; B still nothing but what an unknown id gets.
    assert requests.get(url, headers=A).status_code == 410
    assert answer(requests.get(url, headers=B)) == unknown["get"]
    assert answer(requests.delete(url, headers=B)) == unknown["delete"]


def test_a_write_to_anothers_id_says_only_that_it_is_not_this_keys(ingest, db, seed_article):
    article_id = seed_article["id"]
    url = article_url(ingest, article_id)
    embargo = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
    answers = {}
    assert put(ingest, seed_article, A).status_code == 201
    answers["live"] = b_sees(ingest, seed_article)
    held_back = {**seed_article, "published_at": embargo, "updated_at": embargo}
    assert put(ingest, held_back, A).json()["status"] == "updated"
    answers["embargoed"] = b_sees(ingest, seed_article)
    own = requests.get(url, headers=A).json()
    events = db.xlen("nw:events")
    for _ in range(3):  # asked again, the same: B changed nothing
        assert b_sees(ingest, seed_article) == answers["embargoed"]
    assert requests.get(url, headers=A).json() == own
    assert db.xlen("nw:events") == events
    assert requests.delete(url, headers=A).json()["status"] == "retracted"
    answers["retracted"] = b_sees(ingest, seed_article)

    # One answer whatever state A's article is in.
    assert answers["live"] == answers["embargoed"] == answers["retracted"]
    status, _, body = answers["live"]["put"]
    assert status == 409
    message = f"article id {article_id!r} cannot be written with this key: choose another id"
    assert json.loads(body) == {
        "error": {"status": 409, "code": "conflict", "message": message, "fields": []}
    }
    assert answers["live"]["batch"] == [
        {
            "id": article_id,
            "status": "conflict",
            "errors": [
                {
                    "field": "articles.0.id",
                    "message": "cannot be written with this key: choose another id",
                }
            ],
        }
    ]
    for seen in answers["live"].values():  # neither the owner nor a revision
        text = repr(seen)
        assert "newsroom" not in text and "revision" not in text
    # The takedown stands, and A's is the only history of the id.
    assert requests.get(url, headers=A).status_code == 410
    types = [fields[b"type"] for _, fields in db.xrange("nw:events")]
    assert types == [b"article.published", b"article.updated", b"article.retracted"]


def test_a_batch_refuses_only_the_items_another_publisher_owns(ingest, db, corpus):
    theirs, mine = corpus[0], {**corpus[1], "id": "b-" + corpus[1]["id"]}
    assert put(ingest, theirs, A).status_code == 201
    results = batch(ingest, [theirs, mine], B)
    assert [r["status"] for r in results] == ["conflict", "created"]
    assert results[1] == {"id": mine["id"], "status": "created", "revision": 1}
    assert stored(db, theirs["id"])[b"publisher"] == b"newsroom"
    assert stored(db, mine["id"])[b"publisher"] == b"other"
    # B reads its own as usual.
    assert requests.get(article_url(ingest, mine["id"]), headers=B).json()["revision"] == 1
