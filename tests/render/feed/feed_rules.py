"""The feed specs' rules, as checks on rendered documents: RSS 2.0 (with the Atom, Dublin
Core, content and Media RSS namespaces), Atom 1.0 (RFC 4287, RFC 6721) and JSON Feed 1.1.

Each check raises AssertionError naming the rule a document breaks.
"""

from __future__ import annotations

import html
import json
import re
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import lxml.html
from lxml import etree

ATOM = "http://www.w3.org/2005/Atom"
NS = {
    "atom": ATOM,
    "dc": "http://purl.org/dc/elements/1.1/",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "media": "http://search.yahoo.com/mrss/",
    "at": "http://purl.org/atompub/tombstones/1.0",
}
# RFC 3339 date-time (Atom's and JSON Feed's dates), with a numeric offset or Z.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
# RFC 822 as RSS 2.0 uses it (four-digit years, numeric zone).
RFC822 = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$"
)
TAG_URI = re.compile(r"^tag:[a-z0-9.-]+,\d{4}(-\d{2}(-\d{2})?)?:\S+$")


def feedparser_text(detail: dict) -> str:
    """The text of a feedparser value (`entry.title_detail`): HTML-decoded when feedparser
    says it is HTML, as RSS titles holding `<` or `&` are (see `formats.rss_text`)."""
    value: str = detail["value"]
    return html.unescape(value) if detail["type"] == "text/html" else value


def _rfc3339(text: str | None, what: str) -> datetime:
    assert text and RFC3339.match(text), f"{what}: not an RFC 3339 date-time: {text!r}"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def check_rss(document: bytes) -> etree._Element:
    """RSS 2.0: required channel and item elements, dates, guids, enclosures, links."""
    root = etree.fromstring(document)
    assert root.tag == "rss" and root.get("version") == "2.0", "root must be rss version 2.0"
    [channel] = root.findall("channel")
    for name in ("title", "link", "description"):
        assert (channel.findtext(name) or "").strip(), f"channel requires {name}"
    links = {link.get("rel"): link.get("href") for link in channel.iterfind("atom:link", NS)}
    assert links.get("self") and links.get("hub"), "channel: atom:link self and hub"
    for date in ("lastBuildDate", "pubDate"):
        if channel.find(date) is not None:
            assert RFC822.match(channel.findtext(date)), f"channel {date} not RFC 822"
    guids = [item.findtext("guid") for item in channel.iterfind("item")]
    assert len(set(guids)) == len(guids), "guids repeat"
    for item in channel.iterfind("item"):
        _check_rss_item(item)
    return root


def _absolute_links_only(html: str, what: str) -> None:
    """Readers resolve a relative link against the feed, not the article: none may remain."""
    if not html.strip():
        return
    for element in lxml.html.fragments_fromstring(html):
        if isinstance(element, str):
            continue
        for _, attribute, link, _ in element.iterlinks():
            if attribute in ("href", "src"):
                assert urlsplit(link).scheme, f"{what}: relative URL {link!r}"


def _check_rss_item(item: etree._Element) -> None:
    assert item.findtext("title") or item.findtext("description"), "item: title or description"
    _absolute_links_only(item.findtext("content:encoded", namespaces=NS) or "", "content:encoded")
    # RFC 822 allows any offset; readers and validators expect whole or half hours.
    assert (item.findtext("pubDate") or "")[-2:] in ("00", "30"), "pubDate offset minutes"
    guid = item.find("guid")
    assert guid is not None and TAG_URI.match(guid.text or ""), "item guid: a tag: URI"
    assert guid.get("isPermaLink") == "false", "a tag: guid is not a permalink"
    assert RFC822.match(item.findtext("pubDate") or ""), "item pubDate: RFC 822"
    parsedate_to_datetime(item.findtext("pubDate"))
    assert item.findall("dc:creator", NS), "item: an author (dc:creator)"
    enclosures = item.findall("enclosure")
    assert len(enclosures) <= 1, "RSS 2.0 allows one enclosure per item"
    for enclosure in enclosures:
        assert enclosure.get("url") and enclosure.get("type"), "enclosure: url and type"
        assert (enclosure.get("length") or "").isdigit(), "enclosure length: an integer"
    for group in item.iterfind("media:group", NS):
        assert len(group.findall("media:content", NS)) > 1, "media:group needs several contents"


def check_atom(document: bytes) -> etree._Element:
    """RFC 4287 (and RFC 6721 tombstones): ids, titles, dates, authors, links."""
    root = etree.fromstring(document)
    assert root.tag == f"{{{ATOM}}}feed", "root must be atom:feed"
    if root.find("at:deleted-entry", NS) is None:
        assert "at" not in root.nsmap, "no tombstone namespace without tombstones"
    for name in ("id", "title", "updated"):
        assert root.find(f"atom:{name}", NS) is not None, f"feed requires atom:{name}"
    _rfc3339(root.findtext("atom:updated", namespaces=NS), "feed updated")
    feed_author = root.find("atom:author/atom:name", NS) is not None
    rels = [link.get("rel", "alternate") for link in root.iterfind("atom:link", NS)]
    assert "self" in rels and "hub" in rels, "feed: self and hub links"
    assert rels.count("alternate") <= 1, "at most one alternate link per type and language"
    ids = [entry.findtext("atom:id", namespaces=NS) for entry in root.iterfind("atom:entry", NS)]
    assert len(set(ids)) == len(ids), "entry ids repeat"
    for entry in root.iterfind("atom:entry", NS):
        _check_atom_entry(entry, feed_author)
    for tombstone in root.iterfind("at:deleted-entry", NS):
        assert TAG_URI.match(tombstone.get("ref") or ""), "deleted-entry ref: an entry id"
        _rfc3339(tombstone.get("when"), "deleted-entry when")
    return root


def _check_atom_entry(entry: etree._Element, feed_author: bool) -> None:
    for name in ("id", "title", "updated"):
        assert entry.find(f"atom:{name}", NS) is not None, f"entry requires atom:{name}"
    assert TAG_URI.match(entry.findtext("atom:id", namespaces=NS)), "entry id: a tag: URI"
    updated = _rfc3339(entry.findtext("atom:updated", namespaces=NS), "entry updated")
    published = _rfc3339(entry.findtext("atom:published", namespaces=NS), "entry published")
    assert updated >= published, "entry updated before published"
    authors = entry.findall("atom:author", NS)
    assert authors or feed_author, "entry requires atom:author (or the feed's)"
    for author in authors:
        assert (author.findtext("atom:name", namespaces=NS) or "").strip(), "author: a name"
    links = entry.findall("atom:link", NS)
    assert any(link.get("rel", "alternate") == "alternate" for link in links), "entry: a link"
    content = entry.find("atom:content", NS)
    assert content is not None or entry.find("atom:summary", NS) is not None, "textual content"
    if content is not None:
        _absolute_links_only(content.text or "", "content")
    for group in entry.iterfind("media:group", NS):
        assert len(group.findall("media:content", NS)) > 1, "media:group needs several contents"


def check_json(document: bytes) -> dict:
    """JSON Feed 1.1: version, title, items with ids and content, RFC 3339 dates."""
    feed = json.loads(document)
    assert feed["version"] == "https://jsonfeed.org/version/1.1", "version 1.1"
    assert isinstance(feed["title"], str) and feed["title"], "feed requires title"
    assert "author" not in feed, "1.1 uses authors, not author"
    for hub in feed.get("hubs", []):
        assert hub["type"] and hub["url"], "hubs: type and url"
    ids = [item["id"] for item in feed["items"]]
    assert len(set(ids)) == len(ids) and all(isinstance(i, str) for i in ids), "item ids"
    for item in feed["items"]:
        assert item.get("content_html") or item.get("content_text"), "item: content"
        for date in ("date_published", "date_modified"):
            if date in item:
                _rfc3339(item[date], f"item {date}")
        for author in item.get("authors", []):
            assert author.get("name") or author.get("url"), "author: name or url"
        assert isinstance(item.get("tags", []), list), "tags: a list"
    return feed
