"""`POST /v1/newsml-g2` over real HTTP against a real Redis: the IPTC's own examples, TT's
newsMessage, our corpus written as NewsML-G2 and read back, and hostile documents, each of
which is refused with a 4xx and leaves nothing stored."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lxml.html
import pytest
import redis
import requests
from lxml import etree

from services.ingest.app import create_app
from services.ingest.body_validation import validate_article
from services.ingest.ninjs.mapping import ninjs_id
from shared.settings import Settings
from tests.conftest import API_KEY, API_KEYS, OTHER_API_KEY, Databases, database, live_server

G2 = Path(__file__).parents[1] / "data" / "newsml-g2"
NAR = "http://iptc.org/std/nar/2006-10-01/"
XHTML = "http://www.w3.org/1999/xhtml"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
ITEM = {**AUTH, "Content-Type": "application/vnd.iptc.g2.newsitem+xml"}
MESSAGE = {**AUTH, "Content-Type": "application/vnd.iptc.g2.newsmessage+xml"}


@dataclass(frozen=True)
class Served:
    url: str
    settings: Settings


@pytest.fixture(scope="module")
def served(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with database(databases) as url:
        settings = Settings(
            redis_url=url, artifact_dir=tmp_path_factory.mktemp("artifacts"), api_keys=API_KEYS
        )
        with live_server(create_app(settings)) as base:
            yield Served(base, settings)


@pytest.fixture
def ingest(served: Served) -> str:
    redis.Redis.from_url(served.settings.redis_url).flushdb()
    return served.url


@pytest.fixture
def db(served: Served) -> redis.Redis:
    return redis.Redis.from_url(served.settings.redis_url, decode_responses=True)


def post(url: str, body: bytes, headers: dict[str, str] = ITEM) -> requests.Response:
    return requests.post(f"{url}/v1/newsml-g2", data=body, headers=headers, timeout=30)


def stored(url: str, article_id: str) -> dict[str, Any]:
    answer = requests.get(f"{url}/v1/articles/{article_id}", headers=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["article"]


def nothing_stored(db: redis.Redis) -> bool:
    return not db.keys("nw:article:*") and not db.exists("nw:events")


# --- NewsML-G2 written from our own articles ---------------------------------------------


def _sub(parent: etree._Element, name: str, text: str = "", **attrs: str) -> etree._Element:
    attributes = {key.rstrip("_"): value for key, value in attrs.items()}  # type_ is type
    element = etree.SubElement(parent, f"{{{NAR}}}{name}", attributes)
    element.text = text or None
    return element


def news_item(article: dict[str, Any], picture_guid: str | None = None) -> etree._Element:
    """A NewsML-G2 text item carrying `article` (an XHTML body), as an agency would send it."""
    item = etree.Element(f"{{{NAR}}}newsItem", nsmap={None: NAR})
    item.set("guid", article["id"])
    item.set("version", "1")
    item.set("standard", "NewsML-G2")
    item.set("standardversion", "2.33")
    if article.get("rights"):
        _sub(_sub(item, "rightsInfo"), "copyrightNotice", article["rights"])
    meta = _sub(item, "itemMeta")
    _sub(meta, "itemClass", qcode="ninat:text")
    _sub(meta, "provider", qcode="nprov:NEWSROOM")
    _sub(meta, "versionCreated", article.get("updated_at") or article["published_at"])
    _sub(meta, "firstCreated", article["published_at"])
    _sub(meta, "pubStatus", qcode=article.get("_status", "stat:usable"))
    _sub(meta, "link", rel="irel:canonical", href=article["url"])
    if picture_guid:
        _sub(meta, "link", rel="irel:seeAlso", residref=picture_guid)
    content = _sub(item, "contentMeta")
    for author in article.get("authors", []):
        creator = _sub(content, "creator", **({"uri": author["url"]} if author.get("url") else {}))
        _sub(creator, "name", author["name"])
    if article.get("language"):
        _sub(content, "language", tag=article["language"])
    for name in [article["section"], *article.get("tags", [])]:
        _sub(_sub(content, "subject", type_="cpnat:abstract"), "name", name)
    _sub(content, "headline", article["title"])
    if article.get("summary"):
        _sub(content, "description", article["summary"], role="drol:summary")
    inline = _sub(_sub(item, "contentSet"), "inlineXML", contenttype="application/xhtml+xml")
    html = etree.SubElement(inline, f"{{{XHTML}}}html", nsmap={None: XHTML})
    body = etree.SubElement(html, f"{{{XHTML}}}body")
    for part in lxml.html.fragments_fromstring(article.get("body_html", "")):
        if isinstance(part, str):
            continue
        element = etree.fromstring(lxml.html.tostring(part, method="xml", with_tail=False))
        element.tail = part.tail
        body.append(element)
    return item


def picture_item(guid: str, image: dict[str, str]) -> etree._Element:
    item = etree.Element(f"{{{NAR}}}newsItem", nsmap={None: NAR})
    item.set("guid", guid)
    meta = _sub(item, "itemMeta")
    _sub(meta, "itemClass", qcode="ninat:picture")
    _sub(meta, "versionCreated", "2026-01-18T10:00:00+03:00")
    content = _sub(item, "contentMeta")
    _sub(content, "creditline", image["credit"])
    _sub(content, "description", image["caption"], role="drol:caption")
    _sub(content, "description", image["alt"], role="drol:alternativeText")
    content_set = _sub(item, "contentSet")
    _sub(content_set, "remoteContent", href=image["url"] + "?thumb", rendition="rnd:thumbnail")
    _sub(
        content_set,
        "remoteContent",
        href=image["url"],
        rendition="rnd:web",
        width="1024",
        height="683",
    )
    return item


def news_message(*items: etree._Element) -> bytes:
    message = etree.Element(f"{{{NAR}}}newsMessage", nsmap={None: NAR})
    _sub(_sub(message, "header"), "sent", "2026-01-18T12:00:00+03:00")
    item_set = _sub(message, "itemSet")
    for item in items:
        item_set.append(item)
    return etree.tostring(message, xml_declaration=True, encoding="UTF-8")


def as_document(item: etree._Element) -> bytes:
    return etree.tostring(item, xml_declaration=True, encoding="UTF-8")


# --- The IPTC's examples and TT's newsMessage ----------------------------------------------


def test_iptc_nitf_text_item_is_stored_as_an_article(ingest):
    answer = post(ingest, (G2 / "iptc-LISTING_2_NewsML-G2_Text_Document.xml").read_bytes())
    assert answer.status_code == 201, answer.text
    [result] = answer.json()["results"]
    guid = "urn:newsml:acmenews.com:20161121:US-FINANCE-FED"
    assert result == {"id": guid, "guid": guid, "status": "created", "revision": 1}
    article = stored(ingest, guid)
    assert article["title"] == 'Fed to halt QE to avert "bubble"'
    assert article["section"] == "economy, business and finance"
    assert article["tags"] == ["central bank", "money and monetary policy"]
    assert article["authors"] == [
        {"name": "Meredith Jameson", "url": "http://www.acmenews.com/staff/mjameson"}
    ]
    assert article["language"] == "en-US"
    assert article["published_at"] == "2016-11-21T15:21:06-05:00"  # contentCreated
    assert article["updated_at"] == "2018-11-21T16:25:32-05:00"  # versionCreated
    assert article["body_html"].count("<p>") == 2
    assert article["body_html"].startswith("<p>(New York, NY - October 21) Et, sent")


def test_iptc_item_with_an_embargo_and_no_body(ingest):
    answer = post(ingest, (G2 / "iptc-LISTING_1_A_NewsML-G2_News_Item.xml").read_bytes())
    assert answer.status_code == 201, answer.text
    article = stored(ingest, "urn:newsml:acmenews.com:20161018:US-FINANCE-FED")
    assert article["published_at"] == "2018-10-23T12:00:00Z"  # the embargo
    assert article["body_html"] == ""  # summary only
    assert article["language"] == "en-GB"  # the item's xml:lang
    assert article["rights"] == (
        "Copyright 2017-18 Example Enews LLP, all rights reserved "  # names its holder
        "Not for use outside the United States"
    )


def test_iptc_sports_story_takes_its_summary_from_the_nitf_abstract(ingest):
    answer = post(ingest, (G2 / "iptc-LISTING_22_Sports_story_in_NewsML-G2NITF.xml").read_bytes())
    assert answer.status_code == 201, answer.text
    [result] = answer.json()["results"]
    assert result["guid"] == "tag:xmlteam.com,2016:xt.5932656-preview"
    assert result["id"] == "tag:xmlteam.com-2016:xt.5932656-preview"  # the comma made safe
    article = stored(ingest, result["id"])
    assert article["title"].startswith("Preview: Arizona Diamondbacks")
    assert article["summary"].startswith("A pair of teams coming off big weekend sweeps")
    assert "Livan Hernandez" in article["body_html"]


def test_tt_newsmessage_gives_one_article_with_its_picture(ingest):
    document = (G2 / "tt-newsmessage.xml").read_bytes()
    answer = post(ingest, document, MESSAGE)
    assert answer.status_code == 201, answer.text
    [result] = answer.json()["results"]  # the package and the picture are no articles
    assert result["guid"] == "http://tt.se/media/text/210919-janguillou-879f202b"
    article = stored(ingest, result["id"])
    assert article["url"] == result["guid"]
    assert article["language"] == "sv"
    assert article["section"] == "Litteratur"
    assert "Jan Guillou" in article["tags"]
    assert article["image"]["url"].endswith("a001_NormalHires.jpg")  # the largest, as ninjs
    assert article["image"]["caption"].startswith("Journalisten och författaren Jan Guillou")
    again = post(ingest, document, {**AUTH, "Content-Type": "application/xml"})
    assert again.status_code == 200
    assert again.json()["results"] == [{**result, "status": "unchanged"}]


def test_a_picture_item_of_the_message_is_the_text_items_image(ingest):
    text = etree.parse(G2 / "iptc-LISTING_2_NewsML-G2_Text_Document.xml").getroot()
    photo = etree.parse(G2 / "iptc-LISTING_3_Photo_in_NewsML-G2.xml").getroot()
    # The example's renditions are relative files; a delivery names them by URL.
    for rendition in photo.iter(f"{{{NAR}}}remoteContent"):
        name = rendition.get("href").rsplit("/", 1)[-1].strip()
        rendition.set("href", f"https://images.example.com/{name}")
    answer = post(ingest, news_message(text, photo), MESSAGE)
    assert answer.status_code == 201, answer.text
    image = stored(ingest, text.get("guid"))["image"]
    assert image["credit"] == "Getty Images"
    assert image["caption"].startswith("A general view of part of downtown")
    rendition = photo.find(f".//{{{NAR}}}remoteContent[@rendition='rnd:highRes']")  # largest
    assert image["url"] == rendition.get("href")


# --- Our corpus, to NewsML-G2 and back -----------------------------------------------------


def test_corpus_written_as_newsml_g2_reads_back_as_the_same_articles(ingest, corpus, served):
    # G2 carries neither comments links nor related ids; everything else makes the trip.
    articles = [
        {k: v for k, v in article.items() if k not in ("comments_url", "related")}
        for article in corpus
    ]
    articles[1]["image"] = {
        "url": "https://cdn.haber.example.com.tr/img/kar.jpg",
        "alt": "Karla kaplı İstanbul",
        "caption": "İstanbul'da kar yağışı",
        "credit": "AA",
    }
    articles[2]["rights"] = "© Haber 2026. Tüm hakları saklıdır."
    items = []
    for article in articles:
        guid = f"{article['id']}-photo" if article.get("image") else None
        items.append(news_item(article, guid))
        if guid:
            items.append(picture_item(guid, article["image"]))
    answer = post(ingest, news_message(*items), MESSAGE)
    assert answer.status_code == 201, answer.text
    assert [r["id"] for r in answer.json()["results"]] == [a["id"] for a in articles]
    now = datetime.now(UTC)
    for article in articles:
        expected = validate_article(copy.deepcopy(article), served.settings, now=now)
        assert stored(ingest, article["id"]) == expected.model_dump(mode="json")


def test_an_update_keeps_the_id_and_a_cancellation_retracts(ingest, corpus):
    article = {**corpus[1], "id": "https://agency.example/items/42?v=1"}
    first = post(ingest, as_document(news_item(article))).json()["results"][0]
    assert first["id"] == ninjs_id({"uri": article["id"]}) == "agency.example-items-42-v-1"
    changed = {**article, "title": "Kar alarmı sürüyor", "updated_at": "2026-01-18T15:00:00+03:00"}
    update = post(ingest, as_document(news_item(changed)))
    assert update.status_code == 200
    assert update.json()["results"][0] == {**first, "status": "updated", "revision": 2}
    canceled = post(ingest, as_document(news_item({**changed, "_status": "stat:canceled"})))
    assert canceled.status_code == 200
    assert canceled.json()["results"][0]["status"] == "retracted"
    gone = requests.get(f"{ingest}/v1/articles/{first['id']}", headers=AUTH, timeout=10)
    assert gone.status_code == 410


def test_another_publishers_article_is_a_conflict(ingest, corpus):
    document = as_document(news_item(corpus[2]))
    assert post(ingest, document).status_code == 201
    other = post(ingest, document, {**ITEM, "Authorization": f"Bearer {OTHER_API_KEY}"})
    assert other.status_code == 200
    [result] = other.json()["results"]
    assert result["status"] == "conflict"
    assert result["errors"][0]["field"] == "items.0.guid"


# --- What is refused -----------------------------------------------------------------------


def _with(article_changes: dict[str, Any], corpus_article: dict[str, Any]) -> bytes:
    return as_document(news_item({**corpus_article, **article_changes}))


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE newsItem [\n<!ENTITY lol "lol">\n'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + b']>\n<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="x"><contentMeta>'
    b"<headline>&lol9;</headline></contentMeta></newsItem>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?>\n<!DOCTYPE newsItem [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    b'<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="x"><contentMeta>'
    b"<headline>&xxe;</headline></contentMeta></newsItem>"
)
EXTERNAL_DTD = (
    b'<?xml version="1.0"?>\n<!DOCTYPE newsItem SYSTEM "http://127.0.0.1:9/g2.dtd">\n'
    b'<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="x"/>'
)


def _deep(corpus_article: dict[str, Any]) -> bytes:
    deep = "<div>" * 5000 + "derin" + "</div>" * 5000
    return _with({"body_html": ""}, corpus_article).replace(
        b"<body/>", f'<body xmlns="{XHTML}">{deep}</body>'.encode()
    )


HOSTILE = {
    "billion laughs": (lambda a: BILLION_LAUGHS, 400, "DOCTYPE"),
    "external entity": (lambda a: EXTERNAL_ENTITY, 400, "DOCTYPE"),
    "external DTD": (lambda a: EXTERNAL_DTD, 400, "DOCTYPE"),
    "undeclared entity": (lambda a: b"<newsItem>&lol;</newsItem>", 400, "well-formed"),
    "deep nesting": (_deep, 400, "nested deeper"),
    "not XML": (lambda a: b"{'id': 1}", 400, "well-formed"),
    "RSS, not G2": (lambda a: b"<rss><channel/></rss>", 400, "<rss>"),
    "no text item": (
        lambda a: (G2 / "iptc-LISTING_3_Photo_in_NewsML-G2.xml").read_bytes(),
        400,
        "no text item",
    ),
    "huge body": (
        lambda a: _with({"body_html": "<p>" + "ş" * 600_000 + "</p>"}, a),
        422,
        "items.0.body_html",
    ),
    "over the request limit": (
        lambda a: _with({"body_html": "<p>" + "a" * 3 * 1024 * 1024 + "</p>"}, a),
        413,
        "",
    ),
    "date not a date": (lambda a: _with({"published_at": "dün"}, a), 422, "items.0.firstCreated"),
    "date without offset": (
        lambda a: _with({"published_at": "2026-01-18T10:00:00"}, a),
        422,
        "items.0.firstCreated",
    ),
    "date before 1990": (
        lambda a: _with({"published_at": "1900-01-01T00:00:00Z"}, a),
        422,
        "items.0.published_at",
    ),
    "date years ahead": (
        lambda a: _with(
            {"published_at": "2090-01-01T00:00:00Z", "updated_at": "2090-01-01T00:00:00Z"}, a
        ),
        422,
        "items.0.published_at",
    ),
    "one bad item of two": (
        lambda a: news_message(
            news_item(a), news_item({**a, "id": "ikinci", "published_at": "yarın"})
        ),
        422,
        "items.1.firstCreated",
    ),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_documents_are_refused_and_nothing_is_stored(ingest, db, corpus, name):
    make, status, named = HOSTILE[name]
    answer = post(ingest, make(corpus[1]))
    assert answer.status_code == status, answer.text
    assert named in answer.text
    assert nothing_stored(db)


def test_only_newsml_g2_media_types_and_a_writing_key(ingest, db, corpus):
    document = as_document(news_item(corpus[0]))
    for media in ("application/json", "text/plain", "application/vnd.iptc.ninjs+json"):
        answer = post(ingest, document, {**AUTH, "Content-Type": media})
        assert answer.status_code == 415
        assert "application/vnd.iptc.g2.newsitem+xml" in answer.json()["error"]["message"]
    assert post(ingest, document, {"Content-Type": "application/xml"}).status_code == 401
    assert nothing_stored(db)
