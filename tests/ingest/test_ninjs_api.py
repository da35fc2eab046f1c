"""ninjs over real HTTP against a real Redis: `POST /v1/ninjs` and `PUT /v1/articles/{id}`
sent as `application/vnd.iptc.ninjs+json`, through the same writer, keys and answers as a PUT
of our own JSON; and hostile documents refused with nothing stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from services.ingest.app import create_app
from services.ingest.ninjs.mapping import ninjs_id
from shared.settings import Settings
from tests.conftest import API_KEY, API_KEYS, OTHER_API_KEY, Databases, database, live_server

EXAMPLES = Path(__file__).resolve().parent.parent / "data" / "ninjs"
NINJS = "application/vnd.iptc.ninjs+json"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
AS_NINJS = {**AUTH, "Content-Type": NINJS}


@dataclass(frozen=True)
class Served:
    url: str
    db: redis.Redis


@pytest.fixture(scope="module")
def served(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with database(databases) as url:
        settings = Settings(
            redis_url=url, artifact_dir=tmp_path_factory.mktemp("artifacts"), api_keys=API_KEYS
        )
        with live_server(create_app(settings)) as base:
            yield Served(base, redis.Redis.from_url(url, decode_responses=True))


@pytest.fixture
def ingest(served: Served) -> str:
    served.db.flushdb()
    return served.url


@pytest.fixture
def db(served: Served) -> redis.Redis:
    return served.db


def example(name: str) -> dict[str, Any]:
    [path] = EXAMPLES.glob(f"*/{name}")
    return json.loads(path.read_text())


def post(ingest: str, document: Any, headers: dict[str, str] = AS_NINJS) -> requests.Response:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return requests.post(f"{ingest}/v1/ninjs", data=body, headers=headers)


def read(ingest: str, article_id: str) -> requests.Response:
    return requests.get(f"{ingest}/v1/articles/{article_id}", headers=AUTH)


def event_types(db: redis.Redis) -> list[str]:
    return [fields["type"] for _, fields in db.xrange("nw:events")]


def assert_refused(response: requests.Response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"status", "code", "message", "fields"}
    if field is not None:
        assert field in [f["field"] for f in error["fields"]], error


def test_post_creates_then_the_same_is_unchanged_and_a_new_version_updates(ingest, db):
    document = example("3.0-tt_text_image_3.json")
    article_id = ninjs_id(document)
    created = post(ingest, document)
    assert created.status_code == 201, created.text
    assert created.json() == {"id": article_id, "status": "created", "revision": 1}
    stored = read(ingest, article_id).json()["article"]
    assert stored["title"] == "Militärövning i jätteformat hålls 2023"
    assert stored["section"] == "Inrikes"
    assert stored["image"]["url"].endswith("a001_NormalHires.jpg")
    assert stored["rights"] == "© TT"

    again = post(ingest, document, {**AUTH, "Content-Type": "application/json"})
    assert (again.status_code, again.json()["status"]) == (200, "unchanged")
    newer = {
        **document,
        "versionCreated": "2021-05-26T14:00:00+02:00",
        "headlines": [{"role": "main", "value": "Militärövning 2023: datum klart"}],
    }
    updated = post(ingest, newer)
    assert updated.status_code == 200
    assert updated.json() == {"id": article_id, "status": "updated", "revision": 2}
    assert read(ingest, article_id).json()["article"]["title"] == "Militärövning 2023: datum klart"
    assert event_types(db) == ["article.published", "article.updated"]


@pytest.mark.parametrize("name", ["1.6-005_complex_text_article.json", "2.1-dpa_text.json"])
def test_post_takes_1x_and_2x_documents(ingest, name):
    response = post(ingest, example(name))
    assert response.status_code == 201, response.text
    assert read(ingest, response.json()["id"]).status_code == 200


def test_put_takes_a_ninjs_body_under_the_path_id(ingest):
    document = example("2.1-ntb_text.json")
    url = f"{ingest}/v1/articles/skien-google"
    response = requests.put(url, data=json.dumps(document), headers=AS_NINJS)
    assert response.status_code == 201, response.text
    assert response.json() == {"id": "skien-google", "status": "created", "revision": 1}
    stored = read(ingest, "skien-google").json()["article"]
    assert stored["title"] == "Google har kjøpt giganttomt i Skien"
    assert stored["language"] == "nb-NO"
    # Sent as application/json, a PUT's body is our own article, which this is not.
    as_json = requests.put(url, json=document, headers=AUTH)
    assert_refused(as_json, 422)


@pytest.mark.parametrize("status", ["canceled", "withheld"])
def test_pubstatus_canceled_or_withheld_retracts(ingest, db, status):
    document = example("3.0-ntb_text.json")
    article_id = post(ingest, document).json()["id"]
    taken_down = post(ingest, {**document, "pubStatus": status})
    assert taken_down.status_code == 200, taken_down.text
    assert taken_down.json()["status"] == "retracted"
    assert read(ingest, article_id).status_code == 410
    assert event_types(db) == ["article.published", "article.retracted"]
    assert post(ingest, {**document, "pubStatus": status}).json()["status"] == "unchanged"


def test_another_publisher_cannot_write_the_same_document(ingest):
    document = example("3.1-004_simple_text_article.json")
    assert post(ingest, document).status_code == 201
    other = {"Authorization": f"Bearer {OTHER_API_KEY}", "Content-Type": NINJS}
    assert_refused(post(ingest, document, other), 409)
    assert_refused(post(ingest, document, {"Content-Type": NINJS}), 401)


def deep(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"uri": "u:leaf", "name": "leaf"}
    for level in range(depth):
        node = {"uri": f"u:{level}", "name": f"n{level}", "associations": [node]}
    node.pop("name")
    return {**node, "headlines": [{"value": "Derin"}]}


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (deep(200), 422, None),  # refused before the schema would recurse
        (b"[" * 5000 + b"]" * 5000, 400, None),  # beyond the JSON parser's depth
        ({"uri": "u:1", "headline": "x", "versioncreated": "dün"}, 422, "versioncreated"),
        ({"uri": "u:1", "headline": "x", "urgency": "acil"}, 422, "urgency"),
        ({"uri": "u:1", "headlines": "Başlık"}, 422, "headlines"),
        ({"uri": ["u:1"], "headline": "x"}, 422, "uri"),
        ({"headline": "no uri"}, 422, "body"),
        (
            {"uri": "u:1", "body_html": "<p>" + "a" * (1024 * 1024) + "</p>", "headline": "x"},
            422,
            "body_html",
        ),
        (
            {"uri": "u:1", "body_html": "<p>" + "a" * (3 * 1024 * 1024) + "</p>", "headline": "x"},
            413,
            None,
        ),
        (b"{not json", 400, None),
    ],
    ids=[
        "deep-associations",
        "deep-json",
        "bad-date",
        "wrong-type",
        "wrong-shape",
        "uri-as-list",
        "no-uri",
        "huge-body",
        "over-the-request-limit",
        "not-json",
    ],
)
def test_a_hostile_document_is_refused_and_nothing_is_stored(ingest, db, body, status, field):
    response = post(ingest, body)
    assert_refused(response, status, field)
    assert db.dbsize() == 0


def test_only_json_media_types_are_taken(ingest, db):
    document = json.dumps(example("3.0-ntb_text.json"))
    as_text = {**AUTH, "Content-Type": "text/plain"}
    refused = requests.post(f"{ingest}/v1/ninjs", data=document, headers=as_text)
    assert_refused(refused, 415)
    assert NINJS in refused.json()["error"]["message"]
    put = requests.put(f"{ingest}/v1/articles/x1", data=document, headers=as_text)
    assert_refused(put, 415)
    # Only where ninjs is taken: a batch is our own JSON alone.
    batch = requests.post(f"{ingest}/v1/articles:batch", data="{}", headers=AS_NINJS)
    assert_refused(batch, 415)
    assert db.dbsize() == 0
