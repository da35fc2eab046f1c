"""Names belong to the site, author feeds to their publisher, on a real stack with two keys:
A (`API_KEY`, the site publisher) and B (`OTHER_API_KEY`, another publisher).

B writes first in a section, tag and byline A then writes too: every feed carries A's names,
read back with feedparser (RSS) and as JSON Feed, and B's retraction changes none of them.
An admin's name set over the API shows once the feed is rebuilt. A byline is its publisher's:
B's article under A's journalist's name stays out of A's author feed and reaches B's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import feedparser
import pytest
import redis
import requests

from devstack.stack import Stack
from services.cli.api_keys import create_key
from tests.conftest import OTHER_API_KEY, wait_until

pytestmark = pytest.mark.processes

B = {"Authorization": f"Bearer {OTHER_API_KEY}"}
DEADLINE_S = 30  # what takes well under a second: many times that
SECTION = "feeds/sections/secim-masasi"
TAG = "feeds/tags/secim-gecesi-adlar"
AUTHOR = "feeds/authors/ayse-kurultay"  # A's journalist
B_AUTHOR = "feeds/publishers/other/authors/ayse-kurultay"  # B's byline of that name
B_FIRST_AUTHOR = "feeds/publishers/other/authors/ayse-kurultay-adlar"


def story(n: str, section: str, tags: list[str], byline: str, minute: int) -> dict[str, Any]:
    return {
        "id": f"adlar-{n}",
        "url": f"https://haber.example.com.tr/secim/adlar-{n}",
        "title": f"Seçim masasından haber {n}",
        "summary": "Sandıklar açıldı.",
        "section": section,
        "tags": tags,
        "authors": [{"name": byline}],
        "published_at": f"2026-11-20T10:{minute:02d}:00+03:00",
    }


def put_as_b(stack: Stack, article: dict[str, Any]) -> requests.Response:
    return requests.put(f"{stack.ingest_url}/v1/articles/{article['id']}", json=article, headers=B)


def rss(stack: Stack, stem: str) -> feedparser.FeedParserDict | None:
    response = stack.feed(f"{stem}.rss")
    if response.status_code != 200:
        return None
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.bozo_exception
    return parsed


def json_feed(stack: Stack, stem: str) -> dict[str, Any] | None:
    response = stack.feed(f"{stem}.json")
    return response.json() if response.status_code == 200 else None


def titles(stack: Stack, stem: str) -> set[str]:
    return {rss(stack, stem).feed.title, json_feed(stack, stem)["title"]}


def ids(stack: Stack, stem: str) -> set[str] | None:
    """The article ids a feed's JSON holds now (None: not published)."""
    found = json_feed(stack, stem)
    return None if found is None else {i["id"].rpartition(":")[2] for i in found["items"]}


def listing(stack: Stack, stem: str) -> str | None:
    """The index page once it lists the feed at `stem`."""
    page = stack.feed("index.html").text
    return page if f"{stem}.html" in page else None


def until(check: Callable[[], Any]) -> Any:
    return wait_until(check, DEADLINE_S, 0.05)


def test_the_site_names_what_another_publisher_wrote_first(publishers_stack: Stack) -> None:
    stack = publishers_stack
    hostile = story("b1", "Secim Masasi 🤡", ["SECIM GECESI ADLAR 🤡"], "AYŞE KURULTAY ADLAR 🤡", 1)
    assert put_as_b(stack, hostile).status_code == 201
    until(lambda: ids(stack, SECTION) == {"adlar-b1"})
    site = story("a1", "Seçim Masası", ["Seçim Gecesi Adlar"], "Ayşe Kurultay Adlar", 2)
    assert stack.put(site).status_code == 201
    until(lambda: ids(stack, SECTION) == {"adlar-a1", "adlar-b1"})
    until(lambda: ids(stack, TAG) == {"adlar-a1", "adlar-b1"})
    until(lambda: ids(stack, "feeds/authors/ayse-kurultay-adlar") == {"adlar-a1"})

    assert titles(stack, SECTION) == {"Haber — Seçim Masası"}
    assert titles(stack, TAG) == {"Haber — Seçim Gecesi Adlar"}
    assert titles(stack, "feeds/authors/ayse-kurultay-adlar") == {"Haber — Ayşe Kurultay Adlar"}
    # B's byline went to B's own author feed, which B names no more than any other.
    assert ids(stack, B_FIRST_AUTHOR) == {"adlar-b1"}
    assert titles(stack, B_FIRST_AUTHOR) == {"Haber — ayse-kurultay-adlar (other)"}

    # B's retraction takes its story out and changes no name.
    assert requests.delete(f"{stack.ingest_url}/v1/articles/adlar-b1", headers=B).ok
    until(lambda: ids(stack, SECTION) == {"adlar-a1"})
    until(lambda: ids(stack, TAG) == {"adlar-a1"})
    assert titles(stack, SECTION) == {"Haber — Seçim Masası"}
    assert titles(stack, TAG) == {"Haber — Seçim Gecesi Adlar"}


def test_an_admins_name_shows_after_the_rebuild(publishers_stack: Stack) -> None:
    stack = publishers_stack
    db = redis.Redis.from_url(stack.redis_url)
    token, _ = create_key(db, "adlar-operations", ["admin"])
    admin = {"Authorization": f"Bearer {token}"}
    section = "feeds/sections/sandik-basi-adlar"
    assert stack.put(story("a2", "Sandık Başı Adlar", [], "Ayşe Kurultay", 3)).status_code == 201
    until(lambda: ids(stack, section) == {"adlar-a2"})
    assert titles(stack, section) == {"Haber — Sandık Başı Adlar"}

    path = f"{stack.ingest_url}/v1/names/section/sandik-basi-adlar"
    refused = requests.put(path, json={"name": "Sandık 🤡"}, headers=B)
    assert refused.status_code == 403
    done = requests.put(path, json={"name": "Sandık Başı 2026"}, headers=admin)
    assert done.status_code == 200, done.text
    until(lambda: titles(stack, section) == {"Haber — Sandık Başı 2026"})
    until(lambda: "Sandık Başı 2026" in stack.feed("index.html").text)


def test_a_byline_reaches_only_its_own_publishers_author_feed(publishers_stack: Stack) -> None:
    stack = publishers_stack
    # B signs a story with A's journalist's name; then A's journalist files one.
    impostor = story("b3", "Kurultay Adlar", [], "Ayşe Kurultay", 4)
    assert put_as_b(stack, impostor).status_code == 201
    until(lambda: ids(stack, B_AUTHOR) == {"adlar-b3"})
    assert stack.put(story("a4", "Kurultay Adlar", [], "Ayşe Kurultay", 5)).status_code == 201
    # A build that shows A's new story read the state after B's write: B's is not there.
    until(lambda: "adlar-a4" in (ids(stack, AUTHOR) or set()))
    assert "adlar-b3" not in ids(stack, AUTHOR)
    assert {e.id.rpartition(":")[2] for e in rss(stack, AUTHOR).entries} >= {"adlar-a4"}
    assert "adlar-b3" not in {e.id.rpartition(":")[2] for e in rss(stack, AUTHOR).entries}
    assert titles(stack, AUTHOR) == {"Haber — Ayşe Kurultay"}
    assert titles(stack, B_AUTHOR) == {"Haber — ayse-kurultay (other)"}
    # The index lists B's author feed apart, after the site's own.
    index = until(lambda: listing(stack, B_AUTHOR))
    assert index.index(f"{AUTHOR}.html") < index.index("Diğer yayıncıların yazarları")
    assert index.index("Diğer yayıncıların yazarları") < index.index(f"{B_AUTHOR}.html")
