"""The display-name routes (admin scope) over real HTTP against a real Redis: who may call
them, what they refuse (422 naming the field), and what a change stores and announces."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests

from services.cli.api_keys import create_key
from services.ingest.app import create_app
from shared.settings import Settings
from shared.state import redis_keys
from shared.state.article_reader import ArticleReader
from tests.conftest import API_KEY, live_server

WRITER = {"Authorization": f"Bearer {API_KEY}"}
SECTION = "/v1/names/section/secim-masasi"


@pytest.fixture
def db(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, decode_responses=True)


@pytest.fixture
def admin(db: redis.Redis) -> dict[str, str]:
    token, _ = create_key(db, "operations", ["admin"])
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def ingest(settings: Settings) -> Iterator[str]:
    configured = settings.model_copy(
        update={"display_names": {"feed:tag:secim-2026": "Seçim 2026 (ayar)"}}
    )
    with live_server(create_app(configured)) as url:
        yield url


def field_error(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid"
    [found] = error["fields"]
    return found


def events(db: redis.Redis, settings: Settings) -> list[dict[str, Any]]:
    found = [fields for _, fields in db.xrange(settings.events_stream)]
    return [{**event, "targets": json.loads(event["targets"])} for event in found]


def test_only_an_admin_key_may_read_or_change_names(ingest, admin):
    for method, body in (("get", None), ("put", {"name": "Seçim Masası"}), ("delete", None)):
        path = "/v1/names" if method == "get" else SECTION
        call = getattr(requests, method)
        denied = call(f"{ingest}{path}", json=body, headers=WRITER)
        assert denied.status_code == 403, denied.text
        assert "'admin' scope" in denied.json()["error"]["message"]
        assert call(f"{ingest}{path}", json=body).status_code == 401
    # The scope is checked before the body: a writer learns nothing from a bad one.
    bad = requests.put(f"{ingest}{SECTION}", json={"name": ""}, headers=WRITER)
    assert bad.status_code == 403


def test_an_admin_sets_lists_and_unsets_a_name(ingest, admin, db, settings, write, seed_article):
    write({**seed_article, "section": "Seçim Masası", "tags": ["Seçim 2026"]})
    reader = ArticleReader(redis.Redis.from_url(settings.redis_url))
    before = len(events(db, settings))

    done = requests.put(f"{ingest}{SECTION}", json={"name": "Seçim Masası 2026"}, headers=admin)
    assert done.status_code == 200, done.text
    assert done.json() == {
        "target": "feed:section:secim-masasi",
        "kind": "section",
        "slug": "secim-masasi",
        "publisher": None,
        "status": "set",
        "name": "Seçim Masası 2026",
    }
    assert reader.display_name("feed:section:secim-masasi") == "Seçim Masası 2026"
    [event] = events(db, settings)[before:]
    assert event["type"] == "names.changed"
    assert event["targets"] == ["feed:section:secim-masasi", "feed:index"]

    again = requests.put(f"{ingest}{SECTION}", json={"name": "Seçim Masası 2026"}, headers=admin)
    assert again.json()["status"] == "unchanged"
    assert len(events(db, settings)) == before + 1

    listing = requests.get(f"{ingest}/v1/names", headers=admin).json()["names"]
    assert {n["target"]: (n["name"], n["source"]) for n in listing} == {
        "feed:section:secim-masasi": ("Seçim Masası 2026", "admin"),
        "feed:tag:secim-2026": ("Seçim 2026 (ayar)", "configured"),
        "feed:author:dis-haberler-servisi": ("Dış Haberler Servisi", "site"),
    }

    gone = requests.delete(f"{ingest}{SECTION}", headers=admin)
    assert gone.json()["status"] == "unset"
    assert gone.json()["name"] == "Seçim Masası"  # the site's first article's, again
    assert requests.delete(f"{ingest}{SECTION}", headers=admin).json()["status"] == "unchanged"
    assert len(events(db, settings)) == before + 2


def test_an_author_feed_of_another_publisher_is_named_with_its_publisher(ingest, admin, db):
    path = f"{ingest}/v1/names/author/ayse-yilmaz"
    theirs = requests.put(f"{path}?publisher=other", json={"name": "Ayşe Yılmaz"}, headers=admin)
    assert theirs.json()["target"] == "feed:author:other:ayse-yilmaz"
    assert theirs.json()["publisher"] == "other"
    # The site publisher's name addresses the site's own author feed, at its short address.
    ours = requests.put(f"{path}?publisher=newsroom", json={"name": "Ayşe Y."}, headers=admin)
    assert ours.json()["target"] == "feed:author:ayse-yilmaz"
    assert db.hgetall(redis_keys.ADMIN_NAMES) == {
        "feed:author:other:ayse-yilmaz": "Ayşe Yılmaz",
        "feed:author:ayse-yilmaz": "Ayşe Y.",
    }


@pytest.mark.parametrize(
    ("path", "body", "field", "says"),
    [
        (SECTION, {"name": ""}, "name", "empty"),
        (SECTION, {"name": "  Seçim"}, "name", "padded"),
        (SECTION, {"name": "Seçim\u0000Masası"}, "name", "control"),
        (SECTION, {"name": "Seçim\x1b[31m"}, "name", "control"),
        (SECTION, {"name": "S" * 201}, "name", "200"),
        (SECTION, {"name": 7}, "name", "string"),
        (SECTION, {}, "name", "required"),
        (SECTION, {"name": "Seçim", "extra": 1}, "extra", "not permitted"),
        ("/v1/names/sections/secim-masasi", {"name": "Seçim"}, "path.kind", "section, tag"),
        ("/v1/names/section/Seçim Masası", {"name": "Seçim"}, "path.slug", "secim-masasi"),
        ("/v1/names/section/a--b", {"name": "Seçim"}, "path.slug", "not a slug"),
        (f"{SECTION}?publisher=other", {"name": "Seçim"}, "query.publisher", "author feeds"),
        ("/v1/names/author/ayse?publisher=%20", {"name": "Ayşe"}, "query.publisher", "empty"),
    ],
)
def test_what_cannot_name_a_feed_is_422_naming_the_field(
    ingest, admin, db, path: str, body: dict[str, Any], field: str, says: str
):
    found = field_error(requests.put(f"{ingest}{path}", json=body, headers=admin))
    assert found["field"] == field
    assert says in found["message"]
    assert db.hlen(redis_keys.ADMIN_NAMES) == 0


def test_unset_refuses_what_names_no_feed(ingest, admin):
    found = field_error(requests.delete(f"{ingest}/v1/names/people/ayse", headers=admin))
    assert found["field"] == "path.kind"
