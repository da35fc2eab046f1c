"""Render a `Feed` as RSS 2.0, Atom 1.0 (both via feedgen) or JSON Feed 1.1.

The only module that imports feedgen.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

import orjson
from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.ext.dc import DcEntryExtension, DcExtension
from feedgen.ext.media import MediaEntryExtension, MediaExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from services.render.feed.model import Feed, FeedItem, Person, Tombstone
from shared.bounded_cache import BoundedCache
from shared.store.segmented_gzip import Group, Joined, gzip_document

GENERATOR = "Newswire"
ATOM_NS = "http://www.w3.org/2005/Atom"
TOMBSTONES_NS = "http://purl.org/atompub/tombstones/1.0"
SELF_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml"}
# What the JSON Feed `_rights` extension holds: Dublin Core's rights, as RSS's dc:rights.
RIGHTS_ABOUT = "http://purl.org/dc/elements/1.1/rights"
# What an HTML parser would read as markup in text: a tag, end tag, comment, declaration or
# processing instruction (`<` then a letter, `/`, `!` or `?`), or a character reference
# (`&` then a letter, digit or `#`; HTML decodes some named ones even without the `;`).
_HTML_SIGNIFICANT = re.compile(r"<[A-Za-z/!?]|&[A-Za-z0-9#]")
_COMMA = b","


def render_rss(feed: Feed) -> bytes:
    return _document(feed, "rss")


def render_atom(feed: Feed) -> bytes:
    return _document(feed, "atom")


def render_json(feed: Feed) -> bytes:
    """JSON Feed 1.1: orjson's bytes of the whole document, each item's from the cache."""
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": feed.title,
        "home_page_url": feed.home_url,
        "feed_url": feed.self_urls["json"],
        "description": feed.description,
        "authors": [_json_person(feed.author)],
        "language": feed.language,
        "hubs": [{"type": "WebSub", "url": feed.hub_url}],
        "items": [],
    }
    # "items" is the last key, so its (empty) list closes the document: the cached items go
    # between its brackets, as orjson would have written them.
    shell = orjson.dumps(document)
    items = [
        cached_entry(item, ("json",), lambda item=item: orjson.dumps(_json_item(item)))  # type: ignore[misc]
        for item in feed.items
    ]
    # The commas are entries of their own: the cached bytes stay the very objects cached.
    separated = [part for item in items for part in (_COMMA, item)][1:]
    return Joined(shell[: -len(b"]}")], separated, b"]}", (feed.guid, "json"))


def rss_text(text: str) -> str:
    """Plain text as it goes into an RSS title or description.

    RSS does not say whether these are text or HTML, and most readers decode them as HTML,
    so text an HTML parser would take for markup (`<script>`, `</b>`, `&amp;`) is
    HTML-escaped: every reader then shows the characters, and none runs a tag. Any other
    text goes as it is, so readers that take it as plain text (feedparser among them) get it
    back exactly; feedparser reports the escaped form as `text/html`, whose text is again
    the original.
    """
    return escape(text, quote=False) if _HTML_SIGNIFICANT.search(text) else text


def _json_person(person: Person) -> dict[str, str]:
    return {"name": person.name} | ({"url": person.url} if person.url else {})


def _json_item(item: FeedItem) -> dict[str, object]:
    entry: dict[str, object] = {
        "id": item.guid,
        "url": item.url,
        "title": item.title,
        "date_published": item.published.isoformat(),
        "date_modified": item.updated.isoformat(),
        "tags": [c.term for c in item.categories],
    }
    # JSON Feed needs content_html or content_text; an article may come without a body.
    if item.content_html:
        entry["content_html"] = item.content_html
    else:
        entry["content_text"] = item.summary or item.title
    if item.summary:
        entry["summary"] = item.summary
    entry["authors"] = [_json_person(person) for person in item.authors]
    if item.image:
        entry["image"] = item.image.url
    if item.language:
        entry["language"] = item.language
    if item.rights:  # JSON Feed has no rights field: an extension, named as its spec says
        entry["_rights"] = {"about": RIGHTS_ABOUT, "text": item.rights}
    return entry


RENDERERS: dict[str, Callable[[Feed], bytes]] = {
    "rss": render_rss,
    "atom": render_atom,
    "json": render_json,
}


class AtomEntryLinks(BaseEntryExtension):
    """Typed Atom entry links (enclosure, replies): feedgen 1.0.0 drops `rel` and `type`
    from the links it writes into Atom entries."""

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []

    def add(self, href: str, rel: str, media_type: str, length: str | None = None) -> None:
        link = {"href": href, "rel": rel, "type": media_type}
        self.links.append(link | ({"length": length} if length is not None else {}))

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        for link in self.links:
            etree.SubElement(entry, "link", link)
        return entry


class RssHubLink(BaseExtension):
    """The WebSub hub link in an RSS channel (feedgen 1.0.0 writes only the self link)."""

    def __init__(self) -> None:
        self.hub = ""

    def extend_rss(self, rss: etree._Element) -> etree._Element:
        channel = rss[0]
        # Beside the self link feedgen writes after title, link and description.
        channel.insert(4, etree.Element(f"{{{ATOM_NS}}}link", href=self.hub, rel="hub"))
        return rss


class AtomTombstones(BaseExtension):
    """RFC 6721 deleted-entry elements: the items taken down in the last 48 hours."""

    def __init__(self) -> None:
        self.tombstones: tuple[Tombstone, ...] = ()

    def extend_ns(self) -> dict[str, str]:
        # Declared only when used: validators warn of namespaces they do not know.
        return {"at": TOMBSTONES_NS} if self.tombstones else {}

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        for tombstone in self.tombstones:
            deleted = etree.SubElement(feed, f"{{{TOMBSTONES_NS}}}deleted-entry")
            deleted.set("ref", tombstone.guid)
            deleted.set("when", tombstone.when.isoformat())
        return feed


def _generator(feed: Feed, fmt: str) -> FeedGenerator:
    fg = FeedGenerator()
    # What load_extension("dc") and ("media") register, without its imports: it first tries
    # modules feedgen does not have (feedgen.ext.dc_entry), a search of the disk each time.
    fg.register_extension("dc", DcExtension, DcEntryExtension, atom=False, rss=True)
    fg.register_extension("media", MediaExtension, MediaEntryExtension)
    fg.register_extension("hub", RssHubLink, BaseEntryExtension, atom=False, rss=True)
    fg.register_extension("tombstones", AtomTombstones, BaseEntryExtension, atom=True, rss=False)
    fg.hub.hub = feed.hub_url
    fg.tombstones.tombstones = feed.tombstones
    fg.id(feed.guid)
    # RSS's channel title and description take the RSS escaping; Atom's stay type="text".
    fg.title(rss_text(feed.title) if fmt == "rss" else feed.title)
    fg.description(rss_text(feed.description) if fmt == "rss" else feed.description)
    fg.author({"name": feed.author.name, "uri": feed.author.url})
    fg.language(feed.language)
    fg.generator(GENERATOR)
    fg.updated(feed.updated)
    fg.lastBuildDate(_dated(feed.updated, fmt, feed.timezone))
    # RSS takes the channel <link> from the last link added: self first, site last.
    fg.link(href=feed.self_urls[fmt], rel="self", type=SELF_TYPES[fmt])
    if fmt == "atom":  # RSS gets its hub link from RssHubLink
        fg.link(href=feed.hub_url, rel="hub")
    fg.link(href=feed.home_url, rel="alternate", type="text/html")
    return fg  # without entries: `_document` puts them in


def _dated(moment: datetime, fmt: str, timezone: str) -> datetime:
    """Atom and JSON Feed keep an article's own offset; RSS dates are given in the site's
    time zone, because RFC 822 readers (and validators) balk at offsets such as +0545."""
    return moment.astimezone(ZoneInfo(timezone)) if fmt == "rss" else moment


# Each entry's bytes, by what it shows. An unchanged article is in many feeds and in every
# rebuild of them: rendering and serializing it again each time was most of a build's cost.
# An entry weighs its item and its bytes. The worker sets the budget (`feed_entry_cache_mb`)
# with `ENTRY_CACHE.resize`; `bytes` and `entries` say how full it is.
ENTRY_CACHE: BoundedCache[tuple[object, ...], tuple[FeedItem, bytes]] = BoundedCache(
    64 * 1024 * 1024
)

# Where feedgen puts entries: last in the channel (RSS), last in the feed (Atom), after what
# extensions add (the hub link, tombstones).
_ENTRIES_END = {"rss": b"</channel>", "atom": b"</feed>"}
# The namespaces the root of each format declares with the prefixes entries use (feedgen's,
# and the extensions `_generator` always loads). Serialized under them, an entry comes out
# byte for byte as it does inside the whole document. Atom entries are in no namespace in
# lxml's tree (feedgen writes `xmlns` as a plain attribute), so no default one here either.
_ENTRY_NAMESPACES: dict[str, dict[str | None, str]] = {
    "rss": {
        "dc": "http://purl.org/dc/elements/1.1/",
        "media": "http://search.yahoo.com/mrss/",
        "atom": ATOM_NS,
        "content": "http://purl.org/rss/1.0/modules/content/",
    },
    "atom": {"media": "http://search.yahoo.com/mrss/"},
}


def _document(feed: Feed, fmt: str) -> bytes:
    """The feed as feedgen writes it: the channel by feedgen (without entries), each entry
    from the cache, spliced where feedgen would have appended it.

    Copying cached elements into a new tree and serializing all of them again cost most of
    a warm build; the bytes of an unchanged entry do not change.
    """
    generator = _generator(feed, fmt)
    shell = generator.rss_str(pretty=False) if fmt == "rss" else generator.atom_str(pretty=False)
    cut = shell.rindex(_ENTRIES_END[fmt])
    entries = [_entry(item, fmt, feed.timezone) for item in feed.items]
    return Joined(shell[:cut], entries, shell[cut:], (feed.guid, fmt, feed.timezone))


def _entry(item: FeedItem, fmt: str, timezone: str) -> bytes:
    return cached_entry(
        item, (fmt, timezone), lambda: _serialized(_rendered_entry(item, fmt, timezone), fmt)
    )


def cached_entry(item: FeedItem, context: tuple[object, ...], render: Callable[[], bytes]) -> bytes:
    """The bytes `render` makes of `item` in `context` (format, time zone, whatever else
    they depend on), from `ENTRY_CACHE` when it holds them.

    Keyed by guid, and the item kept to compare: hashing whole items (their categories,
    authors, dates) on every lookup cost more than the rest of a warm build. An edited
    article replaces its old entry. Datetimes compare by instant (11:42+03:00 equals
    14:27+05:45), but the offsets are part of the output, so they are part of the key.
    """
    key = (item.guid, *context, item.published.utcoffset(), item.updated.utcoffset())
    cached = ENTRY_CACHE.get(key)
    # The same item object (an unchanged article's, from the item cache) needs no comparing.
    if cached is not None and (cached[0] is item or cached[0] == item):
        return cached[1]
    entry = render()
    ENTRY_CACHE.put(key, (item, entry), item.weight + len(entry))
    return entry


# Each document's compressed entries (`segmented_gzip.Group`s) from its last build, by
# `Joined.key`: what lets a build compress only its head, tail and newest entries.
GZIP_GROUPS: BoundedCache[tuple[object, ...], tuple[Group, ...]] = BoundedCache(16 * 1024 * 1024)


def gzipped(body: bytes) -> bytes | None:
    """The gzip of a document these renderers made, reusing what its last build
    compressed; None for other bytes (they are compressed whole, as any artifact)."""
    if not isinstance(body, Joined):
        return None
    compressed, groups = gzip_document(body, GZIP_GROUPS.get(body.key) or ())
    GZIP_GROUPS.put(body.key, groups, sum(group.size for group in groups))
    return compressed


def _serialized(entry: FeedEntry, fmt: str) -> bytes:
    """`entry`'s element as serialized inside its feed: under a root declaring the feed's
    namespaces (alone, lxml would declare them again on the entry)."""
    root = etree.Element("root", nsmap=_ENTRY_NAMESPACES[fmt])
    root.append(entry.rss_entry() if fmt == "rss" else entry.atom_entry())
    text = etree.tostring(root, encoding="UTF-8")
    return text[text.index(b">") + 1 : -len(b"</root>")]


def _rendered_entry(item: FeedItem, fmt: str, timezone: str) -> FeedEntry:
    entry = FeedEntry()
    entry.register_extension("dc", DcEntryExtension, atom=False, rss=True)
    entry.register_extension("media", MediaEntryExtension)
    entry.register_extension("links", AtomEntryLinks, atom=True, rss=False)
    entry.id(item.guid)
    entry.guid(item.guid, permalink=False)
    # Atom's title and summary are type="text"; RSS's go through `rss_text`. An entry with
    # neither summary nor body gets its title as summary: Atom wants some textual content.
    entry.title(rss_text(item.title) if fmt == "rss" else item.title)
    entry.link(href=item.url, rel="alternate")
    summary = item.summary or ("" if item.content_html else item.title)
    if summary:
        entry.summary(rss_text(summary) if fmt == "rss" else summary)
    if item.content_html:
        entry.content(item.content_html, type="html")
    entry.published(_dated(item.published, fmt, timezone))
    entry.updated(_dated(item.updated, fmt, timezone))
    for person in item.authors:
        entry.author({"name": person.name, **({"uri": person.url} if person.url else {})})
        entry.dc.dc_creator(person.name)
    for category in item.categories:
        entry.category(term=category.term, scheme=category.scheme, label=category.term)
    if item.image:
        # The image's size is unknown without fetching it; RSS allows length 0 then.
        if fmt == "rss":
            entry.enclosure(item.image.url, "0", item.image.media_type)
        else:
            entry.links.add(item.image.url, "enclosure", item.image.media_type, "0")
        # Straight under the item: a media:group is for alternatives of one medium.
        entry.media.content(
            url=item.image.url, medium="image", type=item.image.media_type, group=None
        )
    if item.rights:
        if fmt == "rss":
            entry.dc.dc_rights(item.rights)
        else:
            entry.rights(item.rights)
    if item.comments_url:
        entry.comments(item.comments_url)
        entry.links.add(item.comments_url, "replies", "text/html")
    return entry
