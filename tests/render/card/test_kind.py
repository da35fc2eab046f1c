"""The card kind, built from real Redis state: image, page, redraws, 410s and image fetching.

Article images are fetched from real local servers through the guarded fetcher, with a
resolver the test controls: 127.0.0.2 stands in for a public host (allow-listed), 127.0.0.1
is inside our network and must never be reached.
"""

from __future__ import annotations

import io
import ipaddress
import json
import logging
import struct
import zlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import lxml.html
import pytest
from PIL import Image

from services.render.card.image import CardContent, CardStyle, render_card
from shared.net.fetcher import Fetcher, FetchPolicy
from tests.render.building import build
from tests.shared.net.fetch_servers import LocalServer, RecordingResolver, start_pair

SEED_ID = "dunya-2026-01-18-lavrov-sansimiz-var"
CARD = f"card:{SEED_ID}"
JPG, HTML = f"cards/{SEED_ID}.jpg", f"cards/{SEED_ID}.html"


@pytest.fixture(scope="module")
def image_servers() -> Iterator[tuple[LocalServer, LocalServer]]:
    public, forbidden = start_pair("127.0.0.2", "127.0.0.1")
    yield public, forbidden
    public.stop()
    forbidden.stop()


@pytest.fixture
def servers(image_servers) -> tuple[LocalServer, LocalServer]:
    for server in image_servers:
        server.reset()
    return image_servers


@pytest.fixture
def card_ctx(ctx, settings, servers):
    """Cards for every article (the corpus is from January), fetching through test DNS."""
    resolver = RecordingResolver({"img.example.com.tr": ["127.0.0.2"], "intra.test": ["10.0.0.5"]})
    policy = FetchPolicy(allow_networks=(ipaddress.ip_network("127.0.0.2/32"),))
    return replace(ctx, fetcher=Fetcher(policy, resolver))


@pytest.fixture
def write_card(write, settings):
    everything = settings.model_copy(update={"card_recent_days": 0})
    return lambda raw: write(raw, using=everything)


def photo_jpeg() -> bytes:
    image = Image.linear_gradient("L").resize((2000, 1333)).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def jpeg_of(ctx, path: str = JPG) -> Image.Image:
    return Image.open(io.BytesIO(ctx.store.get(path).body))


def meta(ctx, path: str = HTML) -> dict[str, list[str]]:
    page = lxml.html.fromstring(ctx.store.get(path).body)
    found: dict[str, list[str]] = {}
    for tag in page.iter("meta"):
        key = tag.get("property") or tag.get("name")
        if key:
            found.setdefault(key, []).append(tag.get("content"))
    return found


def test_a_card_is_a_1200x630_jpeg_and_an_open_graph_page(card_ctx, write_card, seed_article):
    write_card(seed_article)
    assert build(card_ctx, CARD) == "published"
    image = jpeg_of(card_ctx)
    assert (image.format, image.size) == ("JPEG", (1200, 630))
    tags = meta(card_ctx)
    assert tags["og:title"] == ["Rusya'dan flaş çıkış: Şansımız var"]
    assert tags["og:url"] == [seed_article["url"]]
    assert tags["og:image"] == [f"http://127.0.0.1:8080/{JPG}"]
    assert tags["og:locale"] == ["tr_TR"]
    assert tags["article:section"] == ["Dünya"]
    assert tags["article:tag"] == ["Rusya", "Sergey Lavrov", "NATO", "AGİT"]
    assert tags["twitter:card"] == ["summary_large_image"]


def test_an_archive_article_gets_no_card_by_default(write, seed_article, db):
    write(seed_article)  # published in January; cards are for the last 30 days by default
    assert not any(
        t.startswith("card:") for t in json.loads(db.xrevrange("nw:events")[0][1]["targets"])
    )
    fresh = datetime.now(UTC).replace(microsecond=0).isoformat()
    write({**seed_article, "id": "taze", "published_at": fresh, "updated_at": fresh})
    assert "card:taze" in json.loads(db.xrevrange("nw:events")[0][1]["targets"])


def test_the_image_is_redrawn_only_when_what_it_shows_changes(card_ctx, write_card, seed_article):
    write_card(seed_article)
    build(card_ctx, CARD)
    first = card_ctx.store.get(JPG).body
    write_card({**seed_article, "summary": "Yeni özet", "updated_at": "2026-01-18T12:00:00+03:00"})
    build(card_ctx, CARD)
    assert card_ctx.store.get(JPG).body == first  # kept: same title, section, image, date
    assert meta(card_ctx)["og:description"] == ["Yeni özet"]  # the page follows
    write_card(
        {**seed_article, "title": "Lavrov: Şans var", "updated_at": "2026-01-18T12:30:00+03:00"}
    )
    build(card_ctx, CARD)
    assert card_ctx.store.get(JPG).body != first


def test_a_retracted_card_is_gone_and_an_embargoed_one_does_not_exist(
    card_ctx, write_card, retract, seed_article
):
    write_card(seed_article)
    build(card_ctx, CARD)
    retract(SEED_ID)
    build(card_ctx, CARD)
    assert card_ctx.store.get(JPG) is None and card_ctx.store.gone(JPG)
    assert card_ctx.store.get(HTML) is None and card_ctx.store.gone(HTML)
    later = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0).isoformat()
    write_card({**seed_article, "id": "ambargo", "published_at": later, "updated_at": later})
    build(card_ctx, "card:ambargo")
    assert card_ctx.store.get("cards/ambargo.jpg") is None
    assert not card_ctx.store.gone("cards/ambargo.jpg")  # not taken down: not there yet


@pytest.mark.parametrize("article_id", [".gizli", "..", "a:b:c"])
def test_every_valid_article_id_has_a_card(card_ctx, write_card, seed_article, article_id):
    write_card({**seed_article, "id": article_id})
    build(card_ctx, f"card:{article_id}")
    assert jpeg_of(card_ctx, f"cards/{article_id}.jpg").size == (1200, 630)
    assert meta(card_ctx, f"cards/{article_id}.html")["og:image"] == [
        f"http://127.0.0.1:8080/cards/{article_id}.jpg"
    ]


def test_the_article_photo_is_the_background(card_ctx, write_card, seed_article, servers, settings):
    public, forbidden = servers
    public.files["/files/lavrov.jpg"] = (photo_jpeg(), "image/jpeg")
    image = {"url": f"http://img.example.com.tr:{public.port}/files/lavrov.jpg"}
    write_card({**seed_article, "image": image})
    build(card_ctx, CARD)
    assert pixels(card_ctx.store.get(JPG).body) != branded_pixels(card_ctx, seed_article)
    assert public.requests == 1
    assert forbidden.requests == forbidden.connections == 0


def pixels(jpeg: bytes) -> bytes:
    return Image.open(io.BytesIO(jpeg)).tobytes()


def branded_pixels(ctx, seed_article) -> bytes:
    """The card of the seed article drawn without a photo."""
    content = CardContent(seed_article["title"], "Dünya", "Haber", "18 Ocak 2026")
    return pixels(render_card(content, CardStyle.from_settings(ctx.settings)))


FALLBACKS = [
    "http://127.0.0.1:{port}/files/lavrov.jpg",
    "http://127.1:{port}/files/lavrov.jpg",
    "http://0x7f000001:{port}/files/lavrov.jpg",
    "http://2130706433:{port}/files/lavrov.jpg",
    "http://[::1]:{port}/files/lavrov.jpg",
    "http://[::ffff:127.0.0.1]:{port}/files/lavrov.jpg",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
    "http://10.0.0.5/x.jpg",
    "http://172.16.0.1/x.jpg",
    "http://192.168.1.1/x.jpg",
    "http://intra.test/x.jpg",
    "http://img.example.com.tr:{port}/redirect?to=http://127.0.0.1:{port}/files/lavrov.jpg",
    "http://img.example.com.tr:{port}/files/bomb.png",
    "http://img.example.com.tr:{port}/files/logo.svg",
    "http://img.example.com.tr:{port}/files/missing.jpg",
]


@pytest.mark.parametrize("url", FALLBACKS)
def test_an_image_that_cannot_be_used_falls_back_to_the_branded_card(
    card_ctx, write_card, seed_article, servers, url, caplog
):
    public, forbidden = servers
    forbidden.files["/files/lavrov.jpg"] = (photo_jpeg(), "image/jpeg")
    public.files["/files/bomb.png"] = (png_bomb(), "image/png")
    public.files["/files/logo.svg"] = (
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        "image/svg+xml",
    )
    write_card({**seed_article, "image": {"url": url.format(port=public.port)}})
    with caplog.at_level(logging.WARNING):
        assert build(card_ctx, CARD) == "published"
    assert pixels(card_ctx.store.get(JPG).body) == branded_pixels(card_ctx, seed_article)
    assert forbidden.requests == forbidden.connections == 0
    assert f"card of {SEED_ID} without its image" in caplog.text


def png_bomb() -> bytes:
    """A 60000×60000 PNG header: a few bytes that would decode to gigabytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )
