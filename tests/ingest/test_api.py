"""The ingest API over real HTTP against a real Redis."""

from __future__ import annotations

import copy
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
import requests

from devstack.redis_server import RedisServer
from services.ingest.app import create_app
from shared.settings import Settings
from tests.conftest import API_KEY, API_KEYS, OTHER_API_KEY, Databases, database, live_server

AUTH = {"Authorization": f"Bearer {API_KEY}"}
JSON = {"Content-Type": "application/json"}
OTHER = {"Authorization": f"Bearer {OTHER_API_KEY}"}


@dataclass(frozen=True)
class Served:
    url: str
    settings: Settings


@pytest.fixture(scope="module")
def served(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One ingest server for the module: starting one per test cost more than the tests."""
    with database(databases) as url:
        settings = Settings(
            redis_url=url, artifact_dir=tmp_path_factory.mktemp("artifacts"), api_keys=API_KEYS
        )
        with live_server(create_app(settings)) as base:
            yield Served(base, settings)


@pytest.fixture
def ingest(served: Served) -> str:
    """The module's ingest server, with nothing stored: each test starts from an empty
    database."""
    redis.Redis.from_url(served.settings.redis_url).flushdb()
    return served.url


@pytest.fixture
def db(served: Served) -> redis.Redis:
    return redis.Redis.from_url(served.settings.redis_url, decode_responses=True)


def put(url: str, article: dict[str, Any], headers: dict[str, str] = AUTH) -> requests.Response:
    return requests.put(f"{url}/v1/articles/{article['id']}", json=article, headers=headers)


def events(db: redis.Redis) -> list[dict[str, str]]:
    return [fields for _, fields in db.xrange("nw:events")]


def test_put_creates_then_same_content_is_unchanged_without_event(ingest, db, seed_article):
    first = put(ingest, seed_article)
    assert first.status_code == 201
    assert first.json() == {"id": seed_article["id"], "status": "created", "revision": 1}
    again = put(ingest, seed_article)
    assert again.status_code == 200
    assert again.json()["status"] == "unchanged"
    assert len(events(db)) == 1
    event = events(db)[0]
    assert event["type"] == "article.published"
    assert event["id"] == seed_article["id"]
    assert event["rev"] == "1"
    assert "feed:section:dunya" in json.loads(event["targets"])


def test_newer_update_is_a_revision_and_older_is_stale(ingest, db, seed_article):
    put(ingest, seed_article)
    newer = {**seed_article, "title": "Güncellendi", "updated_at": "2026-01-18T12:00:00+03:00"}
    response = put(ingest, newer)
    assert response.json() == {"id": seed_article["id"], "status": "updated", "revision": 2}
    older = {**seed_article, "title": "Eski", "updated_at": "2026-01-18T11:50:00+03:00"}
    assert put(ingest, older).json()["status"] == "stale"
    assert [e["type"] for e in events(db)] == ["article.published", "article.updated"]
    stored = requests.get(f"{ingest}/v1/articles/{seed_article['id']}", headers=AUTH).json()
    assert stored["article"]["title"] == "Güncellendi"
    assert stored["revision"] == 2


def test_moving_section_names_old_and_new_targets(ingest, db, seed_article):
    put(ingest, seed_article)
    moved = {**seed_article, "section": "Gündem", "updated_at": "2026-01-18T12:00:00+03:00"}
    put(ingest, moved)
    targets = json.loads(events(db)[-1]["targets"])
    assert {"feed:section:gundem", "feed:section:dunya"} <= set(targets)
    assert db.zscore("nw:idx:feed:section:dunya", seed_article["id"]) is None
    assert db.zscore("nw:idx:feed:section:gundem", seed_article["id"]) is not None


def test_writes_need_a_known_key(ingest, seed_article):
    assert put(ingest, seed_article, headers={}).status_code == 401
    response = put(ingest, seed_article, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"


def test_another_publisher_cannot_change_read_or_retract(ingest, db, seed_article):
    put(ingest, seed_article)
    changed = {**seed_article, "title": "Ele geçirildi", "updated_at": "2026-01-19T00:00:00Z"}
    assert put(ingest, changed, headers=OTHER).status_code == 409
    url = f"{ingest}/v1/articles/{seed_article['id']}"
    assert requests.delete(url, headers=OTHER).status_code == 404
    assert requests.get(url, headers=OTHER).status_code == 404
    assert requests.get(url, headers=AUTH).json()["article"]["title"] == seed_article["title"]
    assert len(events(db)) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"published_at": "2026-01-18T11:42:00"}, "published_at"),
        ({"updated_at": "2026-01-17T11:42:00+03:00"}, "updated_at"),
        ({"title": ""}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"url": "ftp://example.com/a"}, "url"),
        ({"tags": ["t"] * 10 + [f"etiket {i}" for i in range(50)]}, "tags"),
        ({"authors": [{"name": "  "}]}, "authors.0.name"),
        ({"language": "not a tag!"}, "language"),
        ({"colour": "red"}, "colour"),
        ({"id": "another-id"}, "id"),
        ({"image": {"url": "not a url"}}, "image.url"),
    ],
)
def test_invalid_article_is_422_naming_the_field(ingest, db, seed_article, change, field):
    put(ingest, seed_article)
    bad = {**copy.deepcopy(seed_article), **change}
    bad["id"] = change.get("id", seed_article["id"])
    response = requests.put(f"{ingest}/v1/articles/{seed_article['id']}", json=bad, headers=AUTH)
    assert response.status_code == 422
    fields = [f["field"] for f in response.json()["error"]["fields"]]
    assert any(f == field or f.startswith(field + ".") for f in fields), fields
    # Nothing already stored was lost or touched.
    stored = requests.get(f"{ingest}/v1/articles/{seed_article['id']}", headers=AUTH).json()
    assert stored["article"]["title"] == seed_article["title"]
    assert len(events(db)) == 1


def test_malformed_json_is_400_and_bad_path_id_is_422(ingest, seed_article):
    url = f"{ingest}/v1/articles/{seed_article['id']}"
    response = requests.put(url, data=b"{not json", headers={**AUTH, **JSON})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    response = requests.put(f"{ingest}/v1/articles/bad%20id", json=seed_article, headers=AUTH)
    assert response.status_code == 422


def test_oversized_body_is_413_and_stores_nothing(ingest, db, seed_article):
    huge = {**seed_article, "body_html": "<p>" + "ş" * 1_500_000 + "</p>"}
    response = put(ingest, huge)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert db.exists(f"nw:article:{seed_article['id']}") == 0


def test_body_html_over_one_megabyte_is_422(ingest, seed_article):
    big = {**seed_article, "body_html": "<p>" + "a" * (1024 * 1024) + "</p>"}
    response = put(ingest, big)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "body_html"


def test_hostile_text_is_cleaned_on_ingest(ingest, seed_article):
    hostile = {
        **seed_article,
        "title": "Başlık\x00\x1b<script>alert(1)</script>\ufffe",
        "body_html": '<p onclick="x()">Metin<script>alert(1)</script>'
        '<a href="javascript:alert(1)">bağlantı</a></p><iframe src="https://x"></iframe>',
    }
    assert put(ingest, hostile).status_code == 201
    stored = requests.get(f"{ingest}/v1/articles/{seed_article['id']}", headers=AUTH).json()
    assert stored["article"]["title"] == "Başlık<script>alert(1)</script>"
    body = stored["article"]["body_html"]
    assert "script" not in body and "onclick" not in body and "javascript:" not in body
    assert "iframe" not in body
    assert "Metin" in body and "bağlantı" in body


def test_retraction_is_idempotent_and_sticks(ingest, db, seed_article):
    put(ingest, seed_article)
    url = f"{ingest}/v1/articles/{seed_article['id']}"
    first = requests.delete(url, headers=AUTH)
    assert first.json() == {"id": seed_article["id"], "status": "retracted", "revision": 2}
    assert requests.delete(url, headers=AUTH).json()["status"] == "unchanged"
    assert requests.get(url, headers=AUTH).status_code == 410
    # A retried old PUT must not bring a takedown back; a newer revision may.
    assert put(ingest, seed_article).json()["status"] == "stale"
    newer = {**seed_article, "updated_at": "2026-01-18T13:00:00+03:00"}
    assert put(ingest, newer).json()["status"] == "created"
    assert [e["type"] for e in events(db)] == [
        "article.published",
        "article.retracted",
        "article.published",
    ]
    missing = requests.delete(f"{ingest}/v1/articles/never-was", headers=AUTH)
    assert missing.status_code == 404


def test_batch_reports_each_item(ingest, db, corpus):
    bad = {**corpus[1], "published_at": "yesterday"}
    items = [corpus[0], bad, *corpus[2:]]
    response = requests.post(f"{ingest}/v1/articles:batch", json={"articles": items}, headers=AUTH)
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == len(items)
    assert results[1]["status"] == "invalid"
    assert results[1]["errors"][0]["field"] == "articles.1.published_at"
    assert all(r["status"] == "created" for i, r in enumerate(results) if i != 1)
    assert [r["id"] for r in results] == [a["id"] for a in items]
    assert len(events(db)) == len(items) - 1
    again = requests.post(f"{ingest}/v1/articles:batch", json={"articles": corpus}, headers=AUTH)
    statuses = [r["status"] for r in again.json()["results"]]
    assert statuses == ["unchanged", "created"] + ["unchanged"] * (len(corpus) - 2)


def test_batch_over_the_item_limit_is_422(ingest, corpus):
    items = [corpus[0]] * 1001
    response = requests.post(f"{ingest}/v1/articles:batch", json={"articles": items}, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "articles"


def test_redis_outage_is_503_with_retry_after(
    settings, own_redis_server: RedisServer, seed_article
):
    on_own = settings.model_copy(update={"redis_url": own_redis_server.url})
    with live_server(create_app(on_own)) as ingest:
        own_redis_server.kill()
        response = put(ingest, seed_article)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "unavailable"
        own_redis_server.start()
        assert put(ingest, seed_article).status_code == 201


def test_openapi_documents_the_routes(ingest):
    spec = requests.get(f"{ingest}/openapi.json").json()
    assert "/v1/articles/{article_id}" in spec["paths"]
    assert "/v1/articles:batch" in spec["paths"]
    put_body = spec["paths"]["/v1/articles/{article_id}"]["put"]["requestBody"]
    assert "published_at" in put_body["content"]["application/json"]["schema"]["properties"]
    assert requests.get(f"{ingest}/docs").status_code == 200


# Hostile input.
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def ingest_at(settings: Settings) -> Iterator[str]:
    """An ingest server whose clock reads NOW, with a one-second body read timeout."""
    quick = settings.model_copy(update={"body_read_timeout_s": 1.0})
    with live_server(create_app(quick, clock=lambda: NOW)) as url:
        yield url


def assert_error(response: requests.Response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status
    assert set(error) == {"status", "code", "message", "fields"}
    if field is not None:
        assert [f["field"] for f in error["fields"]] == [field], error


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_a_body_not_sent_as_json_is_415(ingest, db, seed_article, content_type):
    headers = {**AUTH, **({"Content-Type": content_type} if content_type else {})}
    body = json.dumps(seed_article).encode()
    url = f"{ingest}/v1/articles/{seed_article['id']}"
    assert_error(requests.put(url, data=body, headers=headers), 415)
    batch = json.dumps({"articles": [seed_article]}).encode()
    assert_error(requests.post(f"{ingest}/v1/articles:batch", data=batch, headers=headers), 415)
    assert db.exists(f"nw:article:{seed_article['id']}") == 0


def test_json_with_a_utf8_charset_is_accepted(ingest, seed_article):
    headers = {**AUTH, "Content-Type": "application/json; charset=UTF-8"}
    url = f"{ingest}/v1/articles/{seed_article['id']}"
    response = requests.put(url, data=json.dumps(seed_article).encode(), headers=headers)
    assert response.status_code == 201


def test_a_body_that_stalls_halfway_is_408_once_the_timeout_passes(ingest_at, seed_article):
    body = json.dumps(seed_article).encode()
    host, port = ingest_at.removeprefix("http://").split(":")
    head = (
        f"PUT /v1/articles/{seed_article['id']} HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        started = time.monotonic()
        conn.sendall(head + body[: len(body) // 2])
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
        elapsed = time.monotonic() - started
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"408", answer
    # Never before the 1 s timeout; after it, however loaded the machine, well within 10×.
    assert 1.0 <= elapsed < 10 * 1.0, elapsed
    error = json.loads(rest.partition(b"\r\n\r\n")[2])["error"]
    assert (error["status"], error["code"]) == (408, "request_timeout")


def test_a_100_kb_header_is_431(ingest, seed_article):
    headers = {**AUTH, "X-Padding": "a" * 100_000}
    assert_error(put(ingest, seed_article, headers=headers), 431)


def test_an_unknown_key_in_a_batch_body_is_422_naming_it(ingest, db, corpus):
    body = {"articles": corpus[:2], "publish": True}
    response = requests.post(f"{ingest}/v1/articles:batch", json=body, headers=AUTH)
    assert_error(response, 422, "publish")
    assert db.exists(f"nw:article:{corpus[0]['id']}") == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"published_at": "1989-12-31T23:59:59Z"}, "published_at"),
        ({"updated_at": "9999-12-31T23:59:59Z"}, "updated_at"),
        ({"published_at": "2027-11-29T12:00:01Z", "updated_at": None}, "published_at"),
    ],
)
def test_dates_outside_the_bounds_are_422_naming_the_field(ingest_at, seed_article, change, field):
    article = {k: v for k, v in {**seed_article, **change}.items() if v is not None}
    assert_error(put(ingest_at, article), 422, field)


def test_an_embargo_a_year_ahead_is_accepted(ingest_at, seed_article):
    latest = (NOW + timedelta(days=365)).isoformat()
    article = {**seed_article, "published_at": latest, "updated_at": latest}
    assert put(ingest_at, article).status_code == 201


@pytest.mark.parametrize(
    ("body", "accepted"),
    [
        ("<div>" * 64 + "x", True),
        ("<div>" * 65 + "x", False),
        ("<p>x</p>" * 20_000, True),
        ("<p>x</p>" * 20_001, False),
        ("<p " + " ".join(f"data-{i}=x" for i in range(101)) + ">x</p>", False),
    ],
)
def test_body_html_past_its_limits_is_422_naming_it(ingest, seed_article, body, accepted):
    response = put(ingest, {**seed_article, "body_html": body})
    if accepted:
        assert response.status_code == 201, response.text
    else:
        assert_error(response, 422, "body_html")


def test_cite_is_held_to_the_url_policy_on_ingest(ingest, seed_article):
    body = (
        '<blockquote cite="javascript:alert(1)">a</blockquote>'
        '<q cite="/kaynak/1">b</q><q cite="http://e.com/">c</q>'
    )
    assert put(ingest, {**seed_article, "body_html": body}).status_code == 201
    stored = requests.get(f"{ingest}/v1/articles/{seed_article['id']}", headers=AUTH).json()
    html = stored["article"]["body_html"]
    assert "javascript" not in html
    assert 'cite="https://haber.example.com.tr/kaynak/1"' in html
    assert 'cite="http://e.com/"' in html


def test_titles_lose_bidi_controls_on_ingest(ingest, seed_article):
    title = "Rusya\u202e'dan flaş\u00ad çıkış\u200b"
    assert put(ingest, {**seed_article, "title": title}).status_code == 201
    stored = requests.get(f"{ingest}/v1/articles/{seed_article['id']}", headers=AUTH).json()
    assert stored["article"]["title"] == "Rusya'dan flaş çıkış"
