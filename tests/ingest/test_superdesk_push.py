"""Superdesk's HTTP Push into ingest, over real HTTP against a real Redis, sent as Superdesk's
transmitter sends it (tests/ingest/superdesk_sender.py): signatures, items, their updates and
kills, and assets that become the article's image."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
import redis
import requests

from services.ingest.app import create_app
from services.ingest.superdesk import destinations
from shared.settings import Settings
from shared.store.filesystem import FilesystemStore
from tests.conftest import API_KEY, OTHER_API_KEY, SITE_PUBLISHER, live_server
from tests.ingest.superdesk_sender import (
    asset_exists,
    jpeg,
    push_asset,
    push_item,
    signature,
    text_item,
    with_picture,
)

GUID = "urn:newsml:localhost:5000:2026-12-07T10:00:00.000000:6c2b9f1e"
ARTICLE_ID = GUID  # the mapping keeps a urn as it is
SITE = {"Authorization": f"Bearer {API_KEY}"}


@dataclass(frozen=True)
class Pushing:
    ingest: str
    resource_url: str
    assets_url: str
    secret: str
    db: redis.Redis


@pytest.fixture
def pushing(settings: Settings) -> Iterator[Pushing]:
    with live_server(create_app(settings)) as ingest:
        settings = settings.model_copy(update={"ingest_base_url": ingest + "/"})
        db = redis.Redis.from_url(settings.redis_url)
        destination = destinations.add(db, SITE_PUBLISHER)
        urls = destinations.urls(settings, destination.id)
        yield Pushing(ingest, urls.resource_url, urls.assets_url, destination.secret, db)
        db.close()


def stored(pushing: Pushing, article_id: str = ARTICLE_ID) -> requests.Response:
    return requests.get(f"{pushing.ingest}/v1/articles/{article_id}", headers=SITE, timeout=30)


def test_an_unsigned_or_wrongly_signed_push_is_refused_and_stores_nothing(
    pushing: Pushing,
) -> None:
    item = text_item(GUID, "İmzasız haber")
    unsigned = push_item(pushing.resource_url, None, item)
    wrong = push_item(pushing.resource_url, pushing.secret, item, sign_with="not-the-secret")
    for response in (unsigned, wrong):
        assert response.status_code == 403, response.text
        assert "secret_token" in response.json()["error"]["message"]
    picture = push_asset(pushing.assets_url, "wrong-secret", "m1", jpeg())
    assert picture.status_code == 403
    assert stored(pushing).status_code == 404
    assert asset_exists(pushing.assets_url, "m1").status_code == 404
    assert pushing.db.keys("nw:article:*") == []


def test_a_push_to_a_destination_that_does_not_exist_is_refused(pushing: Pushing) -> None:
    elsewhere = pushing.resource_url.replace("/superdesk/", "/superdesk/0") + ""
    item = text_item(GUID, "Başka yere")
    assert push_item(elsewhere, pushing.secret, item).status_code == 403
    removed = destinations.remove(pushing.db, pushing.resource_url.split("/")[-2])
    assert push_item(pushing.resource_url, removed.secret, item).status_code == 403
    assert stored(pushing).status_code == 404


def test_a_signed_item_is_created_then_updated(pushing: Pushing) -> None:
    created = push_item(pushing.resource_url, pushing.secret, text_item(GUID, "İlk başlık"))
    assert created.status_code == 201, created.text
    assert created.json()["id"] == ARTICLE_ID
    article = stored(pushing).json()["article"]
    assert article["title"] == "İlk başlık"
    assert article["section"] == "Dünya"
    assert article["authors"] == [{"name": "Ayşe Yılmaz", "url": None}]

    corrected = text_item(GUID, "Düzeltilmiş başlık", version=2)
    updated = push_item(pushing.resource_url, pushing.secret, corrected)
    assert updated.status_code == 201, updated.text
    assert updated.json() == {"id": ARTICLE_ID, "status": "updated", "revision": 2}
    assert stored(pushing).json()["article"]["title"] == "Düzeltilmiş başlık"
    again = push_item(pushing.resource_url, pushing.secret, corrected)
    assert again.json()["status"] == "unchanged"


def test_an_item_belongs_to_the_destinations_publisher(pushing: Pushing) -> None:
    assert push_item(pushing.resource_url, pushing.secret, text_item(GUID, "Bizim")).ok
    other = {"Authorization": f"Bearer {OTHER_API_KEY}"}
    url = f"{pushing.ingest}/v1/articles/{ARTICLE_ID}"
    assert requests.get(url, headers=other, timeout=30).status_code == 404
    assert requests.delete(url, headers=other, timeout=30).status_code == 404


def test_an_asset_is_checked_then_pushed_and_becomes_the_articles_image(
    pushing: Pushing, settings: Settings
) -> None:
    media_id = "20261207/5f1e2d3c4b5a69788796a5b4.jpg"  # as Superdesk's S3 storage names one
    picture = jpeg()
    assert asset_exists(pushing.assets_url, media_id).status_code == 404
    pushed = push_asset(pushing.assets_url, pushing.secret, media_id, picture)
    assert pushed.status_code == 201, pushed.text
    assert asset_exists(pushing.assets_url, media_id).status_code == 200

    item = with_picture(text_item(GUID, "Fotoğraflı haber"), media_id)
    assert push_item(pushing.resource_url, pushing.secret, item).status_code == 201
    image = stored(pushing).json()["article"]["image"]
    assert image["url"] == pushed.json()["url"]
    assert image["url"].startswith(f"{settings.feeds_base_url}media/")
    assert image["url"].endswith(".jpg")
    assert image["alt"] == "Bakanlık binası"
    path = image["url"].removeprefix(str(settings.feeds_base_url))
    kept = FilesystemStore(settings.artifact_dir).get(path)
    assert kept is not None and kept.body == picture
    assert kept.content_type == "image/jpeg"


def test_a_rendition_whose_media_was_not_pushed_is_left_out(pushing: Pushing) -> None:
    item = with_picture(text_item(GUID, "Fotoğrafı gelmemiş"), "never-pushed")
    assert push_item(pushing.resource_url, pushing.secret, item).status_code == 201
    # No image rather than Superdesk's internal address.
    assert stored(pushing).json()["article"]["image"] is None


def test_only_images_are_kept_as_assets(pushing: Pushing, settings: Settings) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    refused = push_asset(pushing.assets_url, pushing.secret, "m-svg", svg, "image/jpeg")
    assert refused.status_code == 415, refused.text
    assert asset_exists(pushing.assets_url, "m-svg").status_code == 404
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    assert push_asset(pushing.assets_url, pushing.secret, "m-png", png, "image/png").ok
    limit = settings.superdesk_max_asset_bytes
    huge = b"\xff\xd8\xff" + b"\0" * limit
    too_big = push_asset(pushing.assets_url, pushing.secret, "m-huge", huge)
    assert too_big.status_code == 413, too_big.text
    assert asset_exists(pushing.assets_url, "m-huge").status_code == 404


def test_a_killed_item_is_retracted(pushing: Pushing) -> None:
    assert push_item(pushing.resource_url, pushing.secret, text_item(GUID, "Yanlış haber")).ok
    kill = text_item(GUID, "Yanlış haber", version=3, pubstatus="canceled")
    killed = push_item(pushing.resource_url, pushing.secret, kill)
    assert killed.status_code == 201, killed.text
    assert killed.json()["status"] == "retracted"
    assert stored(pushing).status_code == 410


def test_a_picture_item_is_accepted_but_makes_no_article(pushing: Pushing) -> None:
    picture = {**text_item(GUID, "Foto"), "type": "picture"}
    answer = push_item(pushing.resource_url, pushing.secret, picture)
    assert answer.status_code == 200 and answer.json()["status"] == "ignored"
    assert stored(pushing).status_code == 404


def test_an_item_that_cannot_be_an_article_names_its_ninjs_field(pushing: Pushing) -> None:
    item = text_item(GUID, "")
    answer = push_item(pushing.resource_url, pushing.secret, item)
    assert answer.status_code == 422, answer.text
    assert stored(pushing).status_code == 404


@pytest.mark.parametrize("hostile", ["deep associations", "bad date", "huge body"])
def test_a_hostile_item_gets_a_4xx_and_nothing_is_stored(
    pushing: Pushing, settings: Settings, hostile: str
) -> None:
    item = text_item(GUID, "Kötü niyetli")
    if hostile == "deep associations":
        nested: dict = {"type": "picture", "headline": "dip"}
        for _ in range(200):
            nested = {"type": "picture", "associations": {"featuremedia": nested}}
        item["associations"] = {"featuremedia": nested}
    elif hostile == "bad date":
        item["versioncreated"] = "2026-13-45T99:00:00+0000"
    else:
        item["body_html"] = "<p>" + "ş" * settings.max_request_bytes + "</p>"
    answer = push_item(pushing.resource_url, pushing.secret, item)
    assert 400 <= answer.status_code < 500, answer.text
    assert stored(pushing).status_code == 404
    assert pushing.db.keys("nw:article:*") == []


def test_an_asset_check_is_unsigned_as_superdesk_sends_it_but_a_wrong_signature_is_refused(
    pushing: Pushing,
) -> None:
    assert push_asset(pushing.assets_url, pushing.secret, "m-check", jpeg()).status_code == 201
    url = f"{pushing.assets_url}/m-check"
    assert requests.get(url, timeout=30).status_code == 200
    signed = {"x-superdesk-signature": signature(pushing.secret, b"")}
    assert requests.get(url, headers=signed, timeout=30).status_code == 200
    wrong = {"x-superdesk-signature": signature("not-the-secret", b"")}
    assert requests.get(url, headers=wrong, timeout=30).status_code == 403


def test_an_asset_sent_base64_in_a_plain_field_is_decoded(pushing: Pushing) -> None:
    # Eve's file storage, which Superdesk's documentation names, sends files base64-encoded.
    picture = jpeg()
    body = urlencode({"media_id": "m-b64", "media": base64.b64encode(picture)}).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "x-superdesk-signature": signature(pushing.secret, body),
    }
    answer = requests.post(pushing.assets_url, data=body, headers=headers, timeout=30)
    assert answer.status_code == 201, answer.text
    assert asset_exists(pushing.assets_url, "m-b64").status_code == 200
