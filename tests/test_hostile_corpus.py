"""The hostile corpus end to end: every case through the real ingest API of a real stack, then
every output over HTTP, checked by real consumers and scanned for active content.

Cases live in tests/data/hostile/cases.ndjson (the format is described beside it). Each one is
answered 2xx (stored) or 4xx in the error shape, never 5xx, and as the case expects where it
says. Once the stack is idle (every event dispatched and acknowledged, no target owed a
build), every feed in RSS, Atom and JSON, its page, the index page, the sitemaps and every card
page are fetched: feeds must parse with lxml and with feedparser (no bozo), sitemaps must
validate against the XSDs, pages must parse as HTML, and none may hold a script (but the feed
page's own copy-button script), an event-handler attribute, an active-content element or a
javascript:, data: or vbscript: URL. Fields that readers decode as HTML are decoded once
more and scanned again: RSS title, description and content:encoded, Atom text constructs
declared html, JSON Feed content_html. Atom's type="text" constructs and JSON Feed's title,
summary and content_text are plain text by their specs; for those the test checks that they
are declared so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import feedparser
import lxml.html
import pytest
import redis
import requests
from lxml import etree

from devstack.stack import Stack
from services.render.feed.page import _COPY_SCRIPT
from tests.conftest import DATA, Databases, running_stack, wait_until
from tests.sitemap_schemas import validate

pytestmark = [pytest.mark.processes, pytest.mark.timeout(900)]

CASES_FILE = DATA / "hostile" / "cases.ndjson"
FORMATS = ("rss", "atom", "json", "html")
FEED_FOLDERS = {"section": "sections", "tag": "tags", "author": "authors"}
# What a browser ignores inside a URL's scheme: leading controls and spaces, tabs and newlines.
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]+")
FORBIDDEN_SCHEMES = ("javascript:", "data:", "vbscript:")
# Elements that run code, load other documents or change where links go.
ACTIVE_ELEMENTS = {
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "form",
    "svg", "math", "template", "portal",
}  # fmt: skip
URL_ATTRIBUTES = {
    "href", "src", "cite", "action", "formaction", "data", "poster", "background", "srcset",
    "ping", "longdesc", "codebase", "manifest", "icon", "lowsrc", "dynsrc", "xlink:href", "url",
}  # fmt: skip
XML_URL_TEXTS = {"link", "comments", "loc", "uri", "docs", "url"}
OWN_SCRIPT = _COPY_SCRIPT.strip()
INTERNAL_MARK = b"/ic-ag/"
ISTANBUL = timezone(timedelta(hours=3))
XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def load_cases() -> list[dict[str, Any]]:
    lines = CASES_FILE.read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def expand(value: Any) -> Any:
    """The corpus's directives for values too large to keep in the file (see its README)."""
    if isinstance(value, dict):
        if "$repeat" in value:
            return value["$repeat"] * value["times"]
        if "$concat" in value:
            return "".join(expand(part) for part in value["$concat"])
        if "$tags" in value:
            return [f"{value['prefix']}{i}" for i in range(value["$tags"])]
        if "$nest_objects" in value:
            nested: dict[str, Any] = {}
            for _ in range(value["$nest_objects"]):
                nested = {"a": nested}
            return nested
        return {key: expand(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [expand(inner) for inner in value]
    return value


def base_article(index: int, now: datetime) -> dict[str, Any]:
    # Recent, a minute apart: every article is in the news sitemap and gets a card.
    published = now - timedelta(minutes=index + 5)
    return {
        "id": f"hostile-{index:03d}",
        "url": f"https://haber.example.com.tr/hostile/{index}",
        "title": f"Hostile case {index}",
        "summary": "Özet",
        "body_html": "<p>Gövde</p>",
        "section": "Dünya",
        "tags": ["NATO"],
        "authors": [{"name": "Dış Haberler Servisi"}],
        "language": "tr",
        "published_at": published.astimezone(ISTANBUL).replace(microsecond=0).isoformat(),
    }


def request_of(index: int, case: dict[str, Any], now: datetime) -> tuple[str, bytes]:
    """(article id in the path, request body bytes) of one case."""
    path_id = case.get("path_id", f"hostile-{index:03d}")
    if "raw_hex" in case:
        return path_id, bytes.fromhex(case["raw_hex"])
    if "raw" in case:
        raw = case["raw"]
        if isinstance(raw, dict):  # {"$nest": n}: n arrays deep
            return path_id, b"[" * raw["$nest"] + b"]" * raw["$nest"]
        return path_id, raw.encode()
    if "body" in case:
        document = case["body"]
    else:
        document = {**base_article(index, now), **expand(case["article"])}
        document = {k: v for k, v in document.items() if v != {"$delete": True}}
    # ensure_ascii keeps lone surrogates as \ud800 escapes, as the corpus has them.
    return path_id, json.dumps(document, ensure_ascii=True).encode()


@dataclass
class Outcome:
    case: dict[str, Any]
    article_id: str
    status: int
    body: Any


@dataclass
class Site:
    """What the run produced: each case's answer, and every output fetched over HTTP."""

    outcomes: list[Outcome]
    outputs: dict[str, bytes] = field(default_factory=dict)  # path → body
    missing: list[str] = field(default_factory=list)  # outputs that should exist but 404
    visible: set[str] = field(default_factory=set)  # ids of stored, visible articles
    dead_builds: dict[bytes, bytes] = field(default_factory=dict)
    # One connection for the hundreds of outputs read back, as a crawler would keep it.
    http: requests.Session = field(default_factory=requests.Session)


def idle(db: redis.Redis) -> bool:
    """Every event read and acknowledged, and no target queued, building, cooling or due."""
    groups = db.xinfo_groups("nw:events")
    undone = sum((g.get("lag") or 0) + g["pending"] for g in groups)
    return bool(groups) and undone == 0 and db.zcard("nw:due") == 0


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, databases: Databases) -> Iterator[Site]:
    with running_stack(
        databases,
        tmp_path_factory.mktemp("hostile"),
        NEWSWIRE_FEED_SIZE="1000",  # every stored article in the site-wide feed
        NEWSWIRE_CARD_RECENT_DAYS="0",  # every article gets a card
        NEWSWIRE_FETCH_DEADLINE_S="2",
        # Images from 127.0.0.2 are accepted, as in every test, and fail fast (nothing there).
        NEWSWIRE_FETCH_ALLOW_NETWORKS='["127.0.0.2/32"]',
        # The cases arrive one by one; a long window builds the site-wide feed (every case in
        # it) a few times over the run instead of after every few writes.
        NEWSWIRE_DEBOUNCE_WINDOW_MS="1000",
    ) as stack:
        yield run(stack)


def run(stack: Stack) -> Site:
    db = redis.Redis.from_url(stack.env["NEWSWIRE_REDIS_URL"])
    outcomes, now = [], datetime.now(UTC)
    for index, case in enumerate(load_cases()):
        article_id, body = request_of(index, case, now)
        response = stack.http.put(
            f"{stack.ingest_url}/v1/articles/{quote(article_id, safe='')}",
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
        try:
            parsed = response.json()
        except ValueError:
            parsed = response.text
        outcomes.append(Outcome(case, article_id, response.status_code, parsed))
    wait_until(lambda: idle(db), timeout=600, interval=0.2)
    site = Site(outcomes, dead_builds=db.hgetall("nw:dead:builds"))
    now_ms = int(db.time()[0]) * 1000
    for outcome in outcomes:
        if 200 <= outcome.status < 300:
            published = db.hget(f"nw:article:{outcome.article_id}", "published")
            if published is not None and int(published) <= now_ms:
                site.visible.add(outcome.article_id)
    fetch_all(stack, db, site)
    return site


def fetch(stack: Stack, site: Site, path: str, expected: bool = True) -> bytes | None:
    response = site.http.get(f"{stack.feeds_url}/{path}", timeout=30)
    if response.status_code == 200:
        site.outputs[path] = response.content
        return response.content
    if expected:
        site.missing.append(f"{path}: {response.status_code}")
    return None


def fetch_all(stack: Stack, db: redis.Redis, site: Site) -> None:
    fetch(stack, site, "")  # the index page
    for raw in sorted(db.smembers("nw:targets")):
        target = raw.decode()
        if target == "feed:all":
            stem = "feeds/all"
        elif target.startswith("feed:") and target != "feed:index":
            _, kind, slug = target.split(":", 2)
            stem = f"feeds/{FEED_FOLDERS[kind]}/{quote(slug)}"
        else:
            continue
        # A feed of embargoed articles alone is not published yet.
        shown = db.zrangebyscore(f"nw:idx:{target}", "-inf", int(db.time()[0]) * 1000)
        for fmt in FORMATS:
            fetch(stack, site, f"{stem}.{fmt}", expected=bool(shown))
    index = fetch(stack, site, "sitemap.xml")
    if index is not None:
        for loc in etree.fromstring(index, XML_PARSER).iter("{*}loc"):
            fetch(stack, site, urlsplit(loc.text).path.lstrip("/"))
    for article_id in sorted(site.visible):
        fetch(stack, site, f"cards/{quote(article_id, safe='')}.html")


# --- the answers -------------------------------------------------------------------------


def test_the_corpus_is_large_and_every_case_says_what_it_is() -> None:
    cases = load_cases()
    assert len(cases) >= 200
    assert len({c["name"] for c in cases}) == len(cases)
    assert all(c["what"] and c["expect"] in ("stored", "rejected", "any") for c in cases)


def test_every_case_is_stored_or_refused_in_the_error_shape(site: Site) -> None:
    wrong = []
    for outcome in site.outcomes:
        name, status, body = outcome.case["name"], outcome.status, outcome.body
        if 200 <= status < 300:
            if not (isinstance(body, dict) and body.get("status") in ("created", "updated")):
                wrong.append(f"{name}: {status} {str(body)[:200]}")
        elif 400 <= status < 500:
            error = body.get("error") if isinstance(body, dict) else None
            if not (
                isinstance(error, dict)
                and error.get("status") == status
                and isinstance(error.get("code"), str)
                and isinstance(error.get("message"), str)
                and isinstance(error.get("fields"), list)
            ):
                wrong.append(f"{name}: {status} not in the error shape: {str(body)[:200]}")
        else:
            wrong.append(f"{name}: {status} {str(body)[:200]}")
    assert not wrong, "\n".join(wrong)


def test_every_case_gets_the_answer_it_expects(site: Site) -> None:
    wrong = []
    for outcome in site.outcomes:
        expect, status = outcome.case["expect"], outcome.status
        if (expect == "stored" and not 200 <= status < 300) or (
            expect == "rejected" and not 400 <= status < 500
        ):
            detail = json.dumps(outcome.body, ensure_ascii=False)[:300]
            wrong.append(f"{outcome.case['name']} ({outcome.case['what']}): {status} {detail}")
    assert not wrong, "\n".join(wrong)


def test_every_stored_article_is_in_the_site_feed_and_no_build_failed(site: Site) -> None:
    document = json.loads(site.outputs["feeds/all.json"])
    shown = {item["id"].rpartition(":article:")[2] for item in document["items"]}
    assert shown == site.visible
    assert site.missing == []
    assert site.dead_builds == {}


# --- the outputs, read by their consumers --------------------------------------------------


def test_every_feed_parses_with_lxml_and_feedparser(site: Site) -> None:
    feeds = [p for p in site.outputs if p.startswith("feeds/") and p.endswith((".rss", ".atom"))]
    assert len(feeds) >= 10
    broken = []
    for path in feeds:
        body = site.outputs[path]
        etree.fromstring(body, XML_PARSER)
        parsed = feedparser.parse(body)
        if parsed.bozo:
            broken.append(f"{path}: {parsed.bozo_exception}")
    for path in (p for p in site.outputs if p.startswith("feeds/") and p.endswith(".json")):
        document = json.loads(site.outputs[path])
        assert document["version"] == "https://jsonfeed.org/version/1.1", path
    assert not broken, "\n".join(broken)


def test_sitemaps_validate_against_the_schemas(site: Site) -> None:
    sitemaps = [p for p in site.outputs if p == "sitemap.xml" or p.startswith("sitemaps/")]
    assert "sitemap.xml" in sitemaps and "sitemaps/news.xml" in sitemaps
    assert any(re.fullmatch(r"sitemaps/\d{4}-\d{2}(-\d+)?\.xml", p) for p in sitemaps)
    for path in sitemaps:
        validate(site.outputs[path])


def test_pages_parse_as_html(site: Site) -> None:
    pages = [p for p in site.outputs if p == "" or p.endswith(".html")]
    cards = [p for p in pages if p.startswith("cards/")]
    assert len(cards) == len(site.visible)
    for path in pages:
        root = lxml.html.document_fromstring(site.outputs[path])
        assert root.find("head/title") is not None, path


# --- active content ------------------------------------------------------------------------


def forbidden_url(value: str) -> bool:
    return _URL_NOISE.sub("", value).lower().startswith(FORBIDDEN_SCHEMES)


def html_findings(root: lxml.html.HtmlElement, where: str, own_script: bool) -> list[str]:
    """Scripts, handlers, active elements and forbidden URLs in a parsed HTML tree."""
    found = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue  # comments and processing instructions
        tag = element.tag.lower()
        if tag == "script" and own_script and (element.text or "").strip() == OWN_SCRIPT:
            continue
        if tag in ACTIVE_ELEMENTS:
            found.append(f"{where}: <{tag}>")
        if tag == "meta" and element.get("http-equiv", "").lower() == "refresh":
            found.append(f"{where}: meta refresh")
        for name, value in element.attrib.items():
            local = name.rpartition("}")[2].lower()
            if local.startswith("on"):
                found.append(f"{where}: <{tag} {local}=…>")
            if (local in URL_ATTRIBUTES or local.endswith(("href", "src"))) and forbidden_url(
                value
            ):
                found.append(f"{where}: <{tag} {local}={value[:60]!r}>")
    return found


def decoded_findings(text: str | None, where: str) -> list[str]:
    """`text` as a reader that takes it for HTML sees it."""
    if not text or not text.strip():
        return []
    fragment = lxml.html.fragment_fromstring(text, create_parent="div")
    return html_findings(fragment, where + " (decoded as HTML)", own_script=False)


def xml_findings(path: str, body: bytes) -> list[str]:
    root = etree.fromstring(body, XML_PARSER)
    found = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        local = etree.QName(element).localname
        where = f"{path} <{local}>"
        for name, value in element.attrib.items():
            attr = name.rpartition("}")[2].lower()
            if attr.startswith("on"):
                found.append(f"{where} {attr}=…")
            if attr in URL_ATTRIBUTES | {"ref"} and forbidden_url(value):
                found.append(f"{where} {attr}={value[:60]!r}")
        if local in XML_URL_TEXTS and element.text and forbidden_url(element.text):
            found.append(f"{where} {element.text[:60]!r}")
        in_rss = root.tag == "rss"
        if in_rss and local in ("title", "description", "encoded"):
            found += decoded_findings(element.text, where)
        if not in_rss and local in ("title", "subtitle", "summary", "content", "rights"):
            kind = element.get("type", "text")
            if kind in ("html", "xhtml"):
                found += decoded_findings(element.text, where)
            elif local in ("title", "summary", "subtitle"):
                assert kind == "text", f"{where}: a plain-text field declared {kind}"
    return found


def json_findings(path: str, body: bytes) -> list[str]:
    document = json.loads(body)
    found = []
    urls = [document.get("home_page_url"), document.get("feed_url")]
    urls += [hub.get("url") for hub in document.get("hubs", [])]
    for item in document["items"]:
        where = f"{path} item {item['id']}"
        urls += [item.get("url"), item.get("external_url"), item.get("image")]
        urls += [author.get("url") for author in item.get("authors", [])]
        found += decoded_findings(item.get("content_html"), where + " content_html")
    found += [f"{path}: URL {url[:60]!r}" for url in urls if url and forbidden_url(url)]
    return found


def test_no_output_holds_active_content_decoded_or_not(site: Site) -> None:
    assert len(site.outputs) > 50
    findings: list[str] = []
    for path, body in site.outputs.items():
        if (
            path.endswith((".rss", ".atom"))
            or path == "sitemap.xml"
            or path.startswith("sitemaps/")
        ):
            findings += xml_findings(path, body)
        elif path.endswith(".json"):
            findings += json_findings(path, body)
        else:
            own = path.startswith("feeds/")  # a feed's page carries the copy-button script
            findings += html_findings(lxml.html.document_fromstring(body), path or "/", own)
    assert not findings, f"{len(findings)} findings:\n" + "\n".join(sorted(set(findings))[:80])


def test_no_output_names_an_address_inside_a_network(site: Site) -> None:
    # Every internal address the corpus sends carries this in its path: refused as an image,
    # dropped as a body image's source, it must leave no trace.
    assert [p for p, body in site.outputs.items() if INTERNAL_MARK in body] == []


def test_the_scanner_finds_what_it_looks_for() -> None:
    """The scan above is only as good as this: each kind of finding is caught."""
    page = lxml.html.document_fromstring(
        "<html><head><title>t</title></head><body><script>x</script><img src=x onerror=y>"
        '<a href=" JaVa\tScRiPt:alert(1)">a</a><blockquote cite="data:x">q</blockquote>'
        "<svg></svg></body></html>"
    )
    found = html_findings(page, "p", own_script=True)
    assert len(found) == 5, found
    rss = (
        b"<rss><channel><item><title>&lt;script&gt;x&lt;/script&gt;</title>"
        b"<description>&lt;a href='vbscript:x'&gt;a&lt;/a&gt;</description>"
        b"<link>javascript:alert(1)</link></item></channel></rss>"
    )
    assert len(xml_findings("f.rss", rss)) == 3
    escaped_twice = (
        b"<rss><channel><item><title>&amp;lt;script&amp;gt;</title></item></channel></rss>"
    )
    assert xml_findings("f.rss", escaped_twice) == []
