"""Pushes as Superdesk's `http_push` transmitter sends them (superdesk-core,
superdesk/publish/transmitters/http_push.py): the item as a JSON POST, an asset as a
multipart POST built by `requests` (fields `media_id` and `media`), both signed over the raw
body; the asset check a plain GET without a signature."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from PIL import Image

TIMEOUT = 30


def signature(secret: str, body: bytes) -> str:
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def push_item(
    resource_url: str, secret: str | None, item: dict[str, Any], *, sign_with: str | None = None
) -> requests.Response:
    data = json.dumps(item)
    headers = {"Content-type": "application/json", "Accept": "application/json"}
    if secret is not None:
        headers["x-superdesk-signature"] = signature(sign_with or secret, data.encode())
    return requests.post(resource_url, data=data, headers=headers, timeout=TIMEOUT)


def asset_exists(assets_url: str, media_id: str) -> requests.Response:
    return requests.get("/".join([assets_url, media_id]), timeout=TIMEOUT)


def push_asset(
    assets_url: str,
    secret: str | None,
    media_id: str,
    content: bytes,
    mimetype: str = "image/jpeg",
) -> requests.Response:
    prepped = requests.Request("POST", assets_url).prepare()
    prepped.prepare_body({"media_id": media_id}, {"media": (media_id, content, mimetype)})
    if secret is not None:
        assert isinstance(prepped.body, bytes)
        prepped.headers["x-superdesk-signature"] = signature(secret, prepped.body)
    with requests.Session() as session:
        return session.send(prepped, timeout=TIMEOUT)


def jpeg(size: tuple[int, int] = (600, 400), colour: str = "#2a6f97") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=80)
    return out.getvalue()


def text_item(guid: str, headline: str, *, version: int = 1, **extra: Any) -> dict[str, Any]:
    """A text item shaped as Superdesk's ninjs formatter writes one."""
    now = datetime.now(UTC).replace(microsecond=0)
    stamp = "%Y-%m-%dT%H:%M:%S+0000"
    return {
        "guid": guid,
        "type": "text",
        "version": str(version),
        "pubstatus": "usable",
        "headline": headline,
        "description_text": "Dışişleri Bakanlığı açıklama yaptı.",
        "body_html": "<p>İstanbul'da <b>önemli</b> bir gün.</p>",
        "language": "tr",
        "anpa_category": [{"name": "Dünya", "qcode": "d"}],
        "byline": "Ayşe Yılmaz",
        "firstcreated": (now - timedelta(hours=1)).strftime(stamp),
        "versioncreated": (now - timedelta(minutes=60 - version)).strftime(stamp),
        "priority": 5,
        "urgency": 3,
        **extra,
    }


def with_picture(item: dict[str, Any], media_id: str) -> dict[str, Any]:
    """`item` with a feature picture whose renditions Superdesk uploads as `media_id`."""
    picture = {
        "guid": f"{item['guid']}-picture",
        "type": "picture",
        "headline": "Bakanlık binası",
        "description_text": "Ankara'daki bina",
        "byline": "Foto: Ali Kaya",
        "renditions": {
            "original": {
                # Superdesk's own URL of the file: an address inside the newsroom.
                "href": f"http://superdesk.internal/api/upload-raw/{media_id}",
                "media": media_id,
                "mimetype": "image/jpeg",
                "width": 600,
                "height": 400,
            }
        },
    }
    return {**item, "associations": {"featuremedia": picture}}
