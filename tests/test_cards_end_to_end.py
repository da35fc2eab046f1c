"""Social cards end to end: articles pushed over HTTP, cards and their pages read over HTTP."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime, timedelta

import lxml.html
import pytest
from PIL import Image

from devstack.stack import Stack
from tests.conftest import DATA, own_copy, wait_until

# On the stack these modules share (`site_stack`): tests/module_groups.py runs them on one worker.
pytestmark = pytest.mark.processes

# The seed article under an id and URL of this module's: the stack is shared.
SEED = own_copy(json.loads((DATA / "corpus" / "seed-article.json").read_text()), "kart")
OPEN_GRAPH = {
    "og:title", "og:description", "og:type", "og:url", "og:image", "og:image:width",
    "og:image:height", "og:image:type", "og:image:alt", "og:site_name", "og:locale",
    "article:published_time", "article:modified_time", "article:section", "article:tag",
    "twitter:card",
}  # fmt: skip


@pytest.fixture(scope="module")
def cards(site_stack: Stack) -> Stack:
    return site_stack  # it gives every article a card: the corpus was published in January


# For a card built or taken down in a fraction of a second: fails only if it never happens.
DEADLINE_S = 30


def status(stack: Stack, path: str) -> int:
    return stack.feed(path).status_code


def test_a_pushed_article_gets_its_card_and_page(cards):
    assert cards.put(SEED).status_code in (200, 201)
    jpg, html = f"cards/{SEED['id']}.jpg", f"cards/{SEED['id']}.html"
    wait_until(lambda: status(cards, jpg) == 200 and status(cards, html) == 200, DEADLINE_S)
    response = cards.feed(jpg)
    assert response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).size == (1200, 630)
    page = lxml.html.fromstring(cards.feed(html).content)
    found = {(m.get("property") or m.get("name")): m.get("content") for m in page.iter("meta")}
    assert set(found) >= OPEN_GRAPH
    assert found["og:image"] == f"{cards.feeds_url}/{jpg}"
    assert found["og:title"] == "Rusya'dan flaş çıkış: Şansımız var"
    assert cards.feed(jpg, **{"If-None-Match": response.headers["etag"]}).status_code == 304


@pytest.mark.parametrize("article_id", ["nokta..", "iki:nokta"])
def test_unusual_ids_have_card_paths(cards, article_id):
    cards.put({**SEED, "id": article_id, "url": SEED["url"] + "-" + article_id.strip(".:")})
    wait_until(lambda: status(cards, f"cards/{article_id}.jpg") == 200, DEADLINE_S)
    assert status(cards, f"cards/{article_id}.html") == 200


def test_a_retracted_card_answers_410(cards):
    article = {**SEED, "id": "kart-geri", "url": SEED["url"] + "-geri"}
    cards.put(article)
    wait_until(lambda: status(cards, "cards/kart-geri.jpg") == 200, DEADLINE_S)
    assert cards.delete("kart-geri").json()["status"] == "retracted"
    started = time.monotonic()
    wait_until(lambda: status(cards, "cards/kart-geri.jpg") == 410, DEADLINE_S)
    wait_until(lambda: status(cards, "cards/kart-geri.html") == 410, DEADLINE_S)
    print(f"\ncard answered 410 {time.monotonic() - started:.3f}s after the DELETE")
    assert cards.feed("cards/kart-geri.html").json()["error"]["status"] == 410


def test_an_embargoed_card_is_404_until_its_time(cards):
    release = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    moment = release.isoformat()
    article = {**SEED, "id": "kart-ambargo", "published_at": moment, "updated_at": moment}
    assert cards.put(article).status_code == 201
    while datetime.now(UTC) < release - timedelta(milliseconds=300):
        assert status(cards, "cards/kart-ambargo.jpg") == 404
        assert status(cards, "cards/kart-ambargo.html") == 404
        time.sleep(0.1)
    wait_until(lambda: status(cards, "cards/kart-ambargo.jpg") == 200, DEADLINE_S)
    assert datetime.now(UTC) >= release
