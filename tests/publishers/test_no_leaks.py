"""Nothing leaks about another publisher's articles, and no output names an internal address,
on a real stack with two keys: A (`API_KEY`, the site publisher) and B (`OTHER_API_KEY`).

A publishes a live article and an embargoed one. B's GET and DELETE of either are answered
byte for byte as they were before A had them (an unknown id); B's PUT and batch of them say
only that the id is not B's to write, and change neither A's articles nor any feed. Images
inside a network are refused naming the field; an image from the allowed network (127.0.0.2,
where a real server holds the photo) is in the enclosure, media:content, JSON Feed item, feed
page and the card; and no output of the stack names an internal address A sent.
"""

from __future__ import annotations

import io
import ipaddress
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import feedparser
import lxml.html
import pytest
import requests
from lxml import etree
from PIL import Image

from devstack.stack import Stack
from shared.net.addresses import is_internal_host
from tests.conftest import OTHER_API_KEY, wait_until
from tests.shared.net.fetch_servers import LocalServer

pytestmark = pytest.mark.processes

B = {"Authorization": f"Bearer {OTHER_API_KEY}"}
DEADLINE_S = 60  # for a build that takes well under a second, on a stack others share
ALLOWED = (ipaddress.ip_network("127.0.0.2/32"),)  # the stack's NEWSWIRE_FETCH_ALLOW_NETWORKS
FEEDS = ("feeds/sections/sizinti-masasi", "feeds/tags/sizinti-etiketi")
AUTHOR_FEED = "feeds/authors/sizinti-muhabiri"
FORMATS = ("rss", "atom", "json", "html")
# Every internal address A sends carries this in its path, so any trace of one shows.
MARK = "sizinti-ic"
INTERNAL = [
    f"http://127.0.0.1/{MARK}/a.jpg", f"http://localhost:8080/{MARK}/a.jpg",
    f"http://10.0.0.5/{MARK}/a.jpg", f"http://169.254.169.254/{MARK}/meta-data",
    f"http://[::1]/{MARK}/a.jpg", f"http://0x7f000001/{MARK}/a.jpg",
    f"http://metadata.google.internal/{MARK}/v1", f"http://intranet/{MARK}/a.jpg",
    f"http://192.168.1.1/{MARK}/a.jpg",
]  # fmt: skip
_URL = re.compile(r"https?://[^\s\"'<>\\)]+")


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((1600, 900)).convert("RGB").save(out, "JPEG")
    return out.getvalue()


def story(key: str, published: datetime, image_url: str) -> dict[str, Any]:
    moment = published.replace(microsecond=0).isoformat()
    body = "".join(f'<p><img src="{src}" alt="iç {i}"></p>' for i, src in enumerate(INTERNAL))
    body += f'<p>Sızıntı yok.<img src="{image_url}" alt="izinli"></p>'
    return {
        "id": f"sizinti-{key}",
        "url": f"https://haber.example.com.tr/sizinti/{key}",
        "title": f"Sızıntı haberi {key}",
        "summary": "Hiçbir şey sızmadı.",
        "body_html": body,
        "section": "Sızıntı Masası",
        "tags": ["Sızıntı Etiketi"],
        "authors": [{"name": "Sızıntı Muhabiri"}],
        "published_at": moment,
        "updated_at": moment,
        "image": {"url": image_url, "alt": "Sızıntı fotoğrafı"},
    }


def answer(response: requests.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    """What a client sees of a response, but for the headers that differ between any two."""
    headers = sorted((k.lower(), v) for k, v in response.headers.items())
    kept = [h for h in headers if h[0] not in ("x-request-id", "date")]
    return response.status_code, kept, response.content


def b_reads(stack: Stack, article_id: str) -> dict[str, Any]:
    url = f"{stack.ingest_url}/v1/articles/{article_id}"
    return {
        "get": answer(requests.get(url, headers=B, timeout=10)),
        "delete": answer(requests.delete(url, headers=B, timeout=10)),
    }


@dataclass
class Site:
    stack: Stack
    photos: LocalServer
    image_url: str
    live: dict[str, Any]
    embargoed: dict[str, Any]
    unknown: dict[str, dict[str, Any]]  # B's reads of each id before A had it
    outputs: dict[str, bytes] = field(default_factory=dict)


def fetch(stack: Stack, path: str) -> requests.Response:
    return requests.get(f"{stack.feeds_url}/{path}", timeout=10)


def feed_ids(stack: Stack, stem: str) -> set[str]:
    response = fetch(stack, f"{stem}.json")
    if response.status_code != 200:
        return set()
    return {item["id"].rpartition(":article:")[2] for item in response.json()["items"]}


@pytest.fixture(scope="module")
def site(publishers_stack: Stack) -> Iterator[Site]:
    stack = publishers_stack
    photos = LocalServer("photos", "127.0.0.2", 0).start()
    photos.files["/files/sizinti.jpg"] = (jpeg(), "image/jpeg")
    image_url = f"http://127.0.0.2:{photos.port}/files/sizinti.jpg"
    now = datetime.now(UTC)
    live = story("canli", now - timedelta(minutes=10), image_url)
    embargoed = story("ambargo", now + timedelta(days=2), image_url)
    try:
        unknown = {a["id"]: b_reads(stack, a["id"]) for a in (live, embargoed)}
        for article in (live, embargoed):
            response = stack.put(article)
            assert response.status_code == 201, response.text
        card = f"cards/{live['id']}.jpg"
        wait_until(
            lambda: (
                all(live["id"] in feed_ids(stack, stem) for stem in (*FEEDS, AUTHOR_FEED))
                and fetch(stack, card).status_code == 200
            ),
            DEADLINE_S,
        )
        stack.wait_idle(timeout=DEADLINE_S)  # no build of these feeds still to come
        yield Site(stack, photos, image_url, live, embargoed, unknown)
    finally:
        photos.stop()


# --- another publisher's articles ----------------------------------------------------------


def test_b_reading_or_retracting_the_sites_articles_is_answered_as_for_an_unknown_id(site):
    for article in (site.live, site.embargoed):
        assert b_reads(site.stack, article["id"]) == site.unknown[article["id"]], article["id"]
        assert site.unknown[article["id"]]["get"][0] == 404


def test_b_writing_under_the_sites_ids_reveals_nothing_and_changes_nothing(site):
    stack = site.stack
    own = {a["id"]: stack.http.get(f"{stack.ingest_url}/v1/articles/{a['id']}").json()
           for a in (site.live, site.embargoed)}  # fmt: skip
    feeds_before = {stem: fetch(stack, f"{stem}.json").content for stem in (*FEEDS, AUTHOR_FEED)}
    newer = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0).isoformat()
    b_versions = [
        {
            **article,
            "title": "B'nin başlığı",
            "section": "Sızıntı B Masası",
            "authors": [{"name": "Sızıntı B Muhabiri"}],
            "image": None,
            "published_at": newer,
            "updated_at": newer,
        }
        for article in (site.live, site.embargoed)
    ]
    b_versions = [{k: v for k, v in a.items() if v is not None} for a in b_versions]
    puts = [
        requests.put(f"{stack.ingest_url}/v1/articles/{a['id']}", json=a, headers=B, timeout=10)
        for a in b_versions
    ]
    results = requests.post(
        f"{stack.ingest_url}/v1/articles:batch",
        json={"articles": b_versions},
        headers=B,
        timeout=10,
    ).json()["results"]

    # The live and the embargoed article get the same answer but for the id.
    for article, put in zip(b_versions, puts, strict=True):
        assert put.status_code == 409
        assert put.json()["error"] == {
            "status": 409,
            "code": "conflict",
            "message": f"article id {article['id']!r} cannot be written with this key: "
            "choose another id",
            "fields": [],
        }
    assert [{k: v for k, v in r.items() if k != "id"} for r in results] == [
        {
            "status": "conflict",
            "errors": [
                {
                    "field": f"articles.{i}.id",
                    "message": "cannot be written with this key: choose another id",
                }
            ],
        }
        for i in range(2)
    ]
    said = json.dumps([p.json() for p in puts] + results)
    assert "revision" not in said and "newsroom" not in said and "publisher" not in said

    stack.wait_idle(timeout=DEADLINE_S)
    for article_id, before in own.items():
        after = stack.http.get(f"{stack.ingest_url}/v1/articles/{article_id}").json()
        assert after == before
    for stem, before in feeds_before.items():
        assert fetch(stack, f"{stem}.json").content == before, stem
    for stem in ("feeds/sections/sizinti-b-masasi", "feeds/authors/sizinti-b-muhabiri",
                 "feeds/publishers/other/authors/sizinti-b-muhabiri"):  # fmt: skip
        assert fetch(stack, f"{stem}.json").status_code == 404, stem


# --- internal addresses --------------------------------------------------------------------


@pytest.mark.parametrize("url", INTERNAL)
def test_an_image_inside_a_network_is_refused_naming_image_url(site, url):
    stack = site.stack
    article = {**site.live, "id": "sizinti-resim-red", "image": {"url": url}}
    response = stack.put(article)
    assert response.status_code == 422, response.text
    assert [f["field"] for f in response.json()["error"]["fields"]] == ["image.url"]
    (result,) = stack.http.post(
        f"{stack.ingest_url}/v1/articles:batch", json={"articles": [article]}
    ).json()["results"]
    assert [e["field"] for e in result["errors"]] == ["articles.0.image.url"]
    assert stack.http.get(f"{stack.ingest_url}/v1/articles/sizinti-resim-red").status_code == 404


def test_an_allowed_image_is_shown_in_every_output_that_shows_images(site):
    stack, url, article_id = site.stack, site.image_url, site.live["id"]
    section = FEEDS[0]
    rss = feedparser.parse(fetch(stack, f"{section}.rss").content)
    assert not rss.bozo, rss.bozo_exception
    (entry,) = [e for e in rss.entries if e.link == site.live["url"]]
    assert [e["href"] for e in entry.enclosures] == [url]
    assert [m["url"] for m in entry.media_content] == [url]
    # The section shows this module's live article alone (the embargoed one is not out yet).
    atom = etree.fromstring(fetch(stack, f"{section}.atom").content)
    links = atom.iter("{http://www.w3.org/2005/Atom}link")
    assert [link.get("href") for link in links if link.get("rel") == "enclosure"] == [url]
    (item,) = fetch(stack, f"{section}.json").json()["items"]
    assert item["url"] == site.live["url"]
    assert item["image"] == url
    assert f'src="{url}"' in item["content_html"]
    page = lxml.html.fromstring(fetch(stack, f"{section}.html").content)
    assert url in [img.get("src") for img in page.iter("img")]
    # The card is drawn on the photo, fetched from the allowed address.
    card = fetch(stack, f"cards/{article_id}.jpg")
    assert Image.open(io.BytesIO(card.content)).size == (1200, 630)
    assert site.photos.requests >= 1
    assert f"card of {article_id} without its image" not in stack.processes.log("worker")
    meta = lxml.html.fromstring(fetch(stack, f"cards/{article_id}.html").content)
    og = {m.get("property"): m.get("content") for m in meta.iter("meta") if m.get("property")}
    assert og["og:image"] == f"{stack.feeds_url}/cards/{article_id}.jpg"


def every_output(stack: Stack, article_id: str) -> dict[str, bytes]:
    """Every output the stack serves that shows the live article (and the site-wide ones)."""
    paths = [f"{stem}.{fmt}" for stem in (*FEEDS, AUTHOR_FEED, "feeds/all") for fmt in FORMATS]
    paths += [
        "",
        "robots.txt",
        "sitemap.xml",
        f"cards/{article_id}.html",
        f"cards/{article_id}.jpg",
    ]
    index = fetch(stack, "sitemap.xml").content
    paths += [urlsplit(loc.text).path.lstrip("/") for loc in etree.fromstring(index).iter("{*}loc")]
    outputs = {}
    for path in dict.fromkeys(paths):
        response = fetch(stack, path)
        assert response.status_code == 200, path
        outputs[path] = response.content
    return outputs


def test_no_output_names_an_internal_address(site):
    stack = site.stack
    outputs = every_output(stack, site.live["id"])
    monthly = [p for p in outputs if re.fullmatch(r"sitemaps/\d{4}-\d{2}(-\d+)?\.xml", p)]
    assert any(site.image_url.encode() in outputs[p] for p in monthly)  # the image extension
    for path, body in outputs.items():
        assert MARK.encode() not in body, path
    # The site's own feeds of this module: every URL is the stack's own (its configured base
    # URL, on loopback in tests), from the allowed network, or public.
    own = urlsplit(stack.feeds_url).netloc
    for path in (p for p in outputs if p.startswith((*FEEDS, AUTHOR_FEED, "cards/"))):
        if path.endswith(".jpg"):
            continue
        for url in _URL.findall(outputs[path].decode()):
            parts = urlsplit(url.replace("&amp;", "&"))
            if parts.netloc != own:
                assert not is_internal_host(parts.hostname or "", ALLOWED), (path, url)
