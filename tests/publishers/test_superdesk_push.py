"""A Superdesk push flow on a real stack, as Superdesk's HTTP Push transmitter sends it: a
destination registered with the real `newswire superdesk add`, an unsigned push refused, a
picture checked for and pushed, then a story using it; the story reaches its feed with the
picture served by the feeds service under /media/ and drawn on its card (read from the
store, not fetched), is corrected, and is killed."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat

from devstack.stack import Stack
from tests.conftest import SITE_PUBLISHER, wait_until
from tests.ingest.superdesk_sender import (
    asset_exists,
    jpeg,
    push_asset,
    push_item,
    text_item,
    with_picture,
)

pytestmark = pytest.mark.processes

DEADLINE_S = 30  # what takes well under a second: many times that
GUID = "urn:newsml:localhost:5000:2026-12-07T11:00:00.000000:superdesk-akis"
SECTION = "feeds/sections/ajans-masasi"
MEDIA_ID = "20261207/6a7b8c9d0e1f2a3b4c5d6e7f.jpg"


def add_destination(stack: Stack, cwd: Path) -> dict[str, str]:
    env = {**stack.env, "NEWSWIRE_INGEST_BASE_URL": stack.ingest_url + "/"}
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "superdesk", "add", SITE_PUBLISHER],
        env={"PATH": "/usr/bin:/bin", **env},
        cwd=cwd,  # no var/newswire.env here
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return dict(line.split(": ", 1) for line in done.stdout.splitlines())


def section_item(stack: Stack, article_url: str) -> dict[str, Any] | None:
    response = stack.feed(f"{SECTION}.json")
    if response.status_code != 200:
        return None
    return next((i for i in response.json()["items"] if i["url"] == article_url), None)


def titled(stack: Stack, article_url: str, title: str) -> dict[str, Any] | None:
    item = section_item(stack, article_url)
    return item if item and item["title"] == title else None


def test_superdesk_pushes_a_story_with_its_picture_then_corrects_and_kills_it(
    publishers_stack: Stack, tmp_path: Path
) -> None:
    stack = publishers_stack
    destination = add_destination(stack, tmp_path)
    resource_url, assets_url = destination["resource_url"], destination["assets_url"]
    secret = destination["secret_token"]
    extra = {"anpa_category": [{"name": "Ajans Masası", "qcode": "a"}]}
    story = with_picture(text_item(GUID, "Ajanstan ilk haber", **extra), MEDIA_ID)

    assert push_item(resource_url, None, story).status_code == 403

    picture = jpeg((1200, 800), "#d01010")
    assert asset_exists(assets_url, MEDIA_ID).status_code == 404
    assert push_asset(assets_url, secret, MEDIA_ID, picture).status_code == 201
    assert asset_exists(assets_url, MEDIA_ID).status_code == 200

    created = push_item(resource_url, secret, story)
    assert created.status_code == 201, created.text
    article_id = created.json()["id"]
    article_url = f"https://haber.example.com.tr/{article_id}"

    item = wait_until(lambda: titled(stack, article_url, "Ajanstan ilk haber"), DEADLINE_S)
    image_url = item["image"]
    assert image_url.startswith(f"{stack.feeds_url}/media/")
    served = stack.http.get(image_url, timeout=30)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.content == picture

    card = f"cards/{article_id}.jpg"
    wait_until(lambda: stack.feed(card).status_code == 200, DEADLINE_S)
    with Image.open(io.BytesIO(stack.feed(card).content)) as drawn:
        red, _, blue = ImageStat.Stat(drawn.convert("RGB")).mean
    # The photo shows through the card's overlay: red, where the branded card is blue.
    assert red > blue

    corrected = with_picture(
        text_item(GUID, "Ajanstan düzeltilmiş haber", version=2, **extra), MEDIA_ID
    )
    assert push_item(resource_url, secret, corrected).json()["status"] == "updated"
    wait_until(lambda: titled(stack, article_url, "Ajanstan düzeltilmiş haber"), DEADLINE_S)

    kill = {**corrected, "version": "3", "pubstatus": "canceled"}
    assert push_item(resource_url, secret, kill).json()["status"] == "retracted"
    wait_until(lambda: section_item(stack, article_url) is None, DEADLINE_S)
    wait_until(lambda: stack.feed(card).status_code == 410, DEADLINE_S)
