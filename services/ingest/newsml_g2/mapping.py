"""From NewsML-G2 items to our article dicts, the same way as ninjs: each text item is read
into a ninjs-shaped document and mapped by `services.ingest.ninjs.mapping`, so ids, sections
(`NEWSWIRE_NINJS_SECTION_SCHEME`), dates, embargoes, retractions and images follow one set of
rules whichever standard an agency sends.

What of a text item goes where in that document:
- `guid` → `uri` (the article id: the guid without an http(s) scheme, unsafe characters
  made `-`; the same on every version of the item);
- `headline` → the main headline; `description` (role `drol:summary` first, else the first)
  or the NITF `abstract` → the description;
- inline XHTML (`<html>`'s body) or NITF (`body.content`) in `contentSet/inlineXML`, or
  plain `inlineData` as paragraphs → the body; none means summary only;
- `genre` and `subject` (name, qcode, uri) → genres and subjects: the section and tags;
  `keyword` → keywords;
- `creator` and `contributor` → people in the author role;
- `firstCreated` (else `contentCreated`), `versionCreated` (else `contentModified`) and
  `embargoed` → the dates; `pubStatus` canceled or withheld → a retraction;
- `contentMeta/language/@tag`, else the item's `xml:lang` → the language;
- the first `rightsInfo`'s `copyrightNotice`, `copyrightHolder` name and `usageTerms` → the
  rights;
- a picture item of the same message → the feature picture (largest rendition, caption,
  `creditline` as credit), when the text item links to it (`link` with the picture's guid as
  `residref` or `href`), or, unlinked, when it is the message's only picture and the text
  its only text item.
The article's url is the `itemMeta/link` of rel `irel:canonical`, else as for ninjs (an
http(s) guid, else the site's URL followed by the id).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree

from services.ingest.newsml_g2.parsing import XML_LANG, child, children, local, text
from services.ingest.ninjs.mapping import (
    NinjsOptions,
    NinjsUnmappable,
    article_from_ninjs,
    ninjs_id,
    retracts,
)

_HTTP = re.compile(r"https?://", re.IGNORECASE)
_XHTML_FROM_NITF = {"hl1": "h2", "hl2": "h3", "block": "div", "media-caption": "p"}


class NotNewsMl(ValueError):
    """The XML is not a NewsML-G2 newsItem or newsMessage; the message says what to send."""


@dataclass
class TextItem:
    index: int  # among the document's text items
    guid: str
    article: dict[str, Any]  # at least its id, unless `errors`
    retract: bool
    errors: list[dict[str, str]] = field(default_factory=list)  # fields named "items.N.…"


def news_items(root: etree._Element) -> list[etree._Element]:
    """The newsItems of a newsItem or newsMessage document.

    Raises:
        NotNewsMl: the root is neither.
    """
    name = local(root)
    if name == "newsItem":
        return [root]
    if name == "newsMessage":
        item_set = child(root, "itemSet")
        return children(item_set, "newsItem") if item_set is not None else []
    raise NotNewsMl(f"the root element is <{name}>: send a NewsML-G2 <newsItem> or <newsMessage>")


def text_items(
    root: etree._Element, received_at: datetime, options: NinjsOptions
) -> list[TextItem]:
    """Every text item of the document, mapped; pictures are attached as their images."""
    items = news_items(root)
    pictures = {item.get("guid", ""): item for item in items if _item_class(item) == "picture"}
    texts = [item for item in items if _item_class(item) == "text"]
    # Unlinked, a message's one picture belongs to its one story; among several, to none.
    only_picture = next(iter(pictures.values())) if len(pictures) == len(texts) == 1 else None
    mapped = []
    for index, item in enumerate(texts):
        picture = _linked_picture(child(item, "itemMeta"), pictures)
        picture = picture if picture is not None else only_picture
        mapped.append(_text_item(item, index, picture, received_at, options))
    return mapped


def as_ninjs(
    item: etree._Element, picture: etree._Element | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The text item as a ninjs document, and the G2 name of each ninjs key it fills (for
    errors to name what the agency wrote)."""
    meta, content = child(item, "itemMeta"), child(item, "contentMeta")
    document: dict[str, Any] = {"uri": item.get("guid", "").strip(), "pubstatus": _status(item)}
    names = {"uri": "guid", "headlines": "headline"}
    headline = text(child(content, "headline"))
    if headline:
        document["headlines"] = [{"role": "main", "value": headline}]
    body, abstract = _body(item)
    summary = _summary(content) or abstract
    if summary:
        document["descriptions"] = [{"value": summary}]
    if body:
        document["body_html"] = body
    genres = [_concept(g) for g in _all(content, "genre")]
    subjects = [_concept(s) for s in _all(content, "subject")]
    document["genres"] = [g for g in genres if g["name"]]
    document["subjects"] = [s for s in subjects if s["name"]]
    document["keywords"] = [text(k) for k in _all(content, "keyword") if text(k)]
    document["people"] = _authors(content)
    tagged = child(content, "language")
    language = (tagged.get("tag") if tagged is not None else None) or item.get(XML_LANG)
    if language:
        document["language"] = language
    for key, sources in (
        ("firstcreated", ((meta, "firstCreated"), (content, "contentCreated"))),
        ("versioncreated", ((meta, "versionCreated"), (content, "contentModified"))),
        ("embargoed", ((meta, "embargoed"),)),
    ):
        for parent, name in sources:
            if text(child(parent, name)):
                document[key], names[key] = text(child(parent, name)), name
                break
    rights = child(item, "rightsInfo")
    holder = child(rights, "copyrightHolder")
    holder_name = text(child(holder, "name")) or (
        holder.get("literal", "") if holder is not None else ""
    )
    for key, value in (
        ("copyrightnotice", text(child(rights, "copyrightNotice"))),
        ("copyrightholder", holder_name),
        ("usageterms", text(child(rights, "usageTerms"))),
    ):
        if value:
            document[key] = value
    names.update(copyrightnotice="rightsInfo", usageterms="rightsInfo")
    if picture is not None:
        feature = _picture(picture)
        if feature is not None:
            document["associations"] = {"featuremedia": feature}
    return document, names


def _text_item(
    item: etree._Element,
    index: int,
    picture: etree._Element | None,
    received_at: datetime,
    options: NinjsOptions,
) -> TextItem:
    prefix = f"items.{index}."
    document, names = as_ninjs(item, picture)
    guid = document["uri"]
    if not guid:
        error = {"field": prefix + "guid", "message": "give the newsItem its guid"}
        return TextItem(index, guid, {}, retracts(document), [error])
    if retracts(document):
        return TextItem(index, guid, {"id": ninjs_id(document)}, True)
    try:
        article = article_from_ninjs(document, received_at=received_at, options=options)
    except NinjsUnmappable as exc:
        errors = [{**f, "field": prefix + names.get(f["field"], f["field"])} for f in exc.fields]
        return TextItem(index, guid, {}, False, errors)
    for link in _all(child(item, "itemMeta"), "link"):
        if link.get("rel", "").endswith("canonical") and link.get("href"):
            article["url"] = link.get("href")
            break
    return TextItem(index, guid, article, False)


def _code(item: etree._Element, name: str, default: str) -> str:
    """The code of an itemMeta qcode (`ninat:text`, or its URI form), lower-cased."""
    # Elements are falsy when they have no children: compare with None, never `or`.
    found = child(child(item, "itemMeta"), name)
    qcode = found.get("qcode", default) if found is not None else default
    return re.split(r"[:/]", qcode.rstrip("/"))[-1].lower()


def _item_class(item: etree._Element) -> str:
    return _code(item, "itemClass", "")


def _status(item: etree._Element) -> str:
    return _code(item, "pubStatus", "usable")


def _all(parent: etree._Element | None, name: str) -> list[etree._Element]:
    return children(parent, name) if parent is not None else []


def _concept(element: etree._Element) -> dict[str, str]:
    name = text(child(element, "name")) or element.get("literal", "")
    found = {"name": name, "qcode": element.get("qcode", ""), "uri": element.get("uri", "")}
    return {key: value for key, value in found.items() if value or key == "name"}


def _summary(content: etree._Element | None) -> str:
    descriptions = [d for d in _all(content, "description") if text(d)]
    for description in descriptions:
        if description.get("role", "").lower().endswith(("summary", "abstract")):
            return text(description)
    return text(descriptions[0]) if descriptions else ""


def _authors(content: etree._Element | None) -> list[dict[str, str]]:
    people = []
    for person in _all(content, "creator") + _all(content, "contributor"):
        name = text(child(person, "name")) or person.get("literal", "")
        if name:
            found = {"name": name, "rel": "author"}
            if _HTTP.match(person.get("uri", "")):
                found["uri"] = person.get("uri", "")
            people.append(found)
    return people


def _body(item: etree._Element) -> tuple[str, str]:
    """The item's body as HTML (sanitized later, as every body), and an NITF abstract."""
    content_set = child(item, "contentSet")
    inline = child(content_set, "inlineXML")
    if inline is not None:
        html = next((e for e in inline.iter() if local(e) == "html"), None)
        if html is not None:
            body = child(html, "body")
            return (_inner_html(body) if body is not None else ""), ""
        nitf = next((e for e in inline.iter() if local(e) == "nitf"), None)
        if nitf is not None:
            content = next((e for e in nitf.iter() if local(e) == "body.content"), None)
            abstract = next((e for e in nitf.iter() if local(e) == "abstract"), None)
            body = _inner_html(content, _XHTML_FROM_NITF) if content is not None else ""
            return body, text(abstract)[:1000]
    data = child(content_set, "inlineData")
    if data is not None and (data.get("contenttype") or "text/plain").startswith("text/plain"):
        paragraphs = [" ".join(p.split()) for p in (data.text or "").split("\n\n")]
        return "".join(_paragraph(p) for p in paragraphs if p), ""
    return "", ""


def _paragraph(words: str) -> str:
    p = etree.Element("p")
    p.text = words
    return etree.tostring(p, encoding="unicode", method="html")


def _inner_html(element: etree._Element, renames: dict[str, str] | None = None) -> str:
    """The element's content as HTML without namespaces, NITF names made HTML ones."""
    copy = etree.fromstring(etree.tostring(element))  # the document's own tree stays as sent
    for node in copy.iter():
        if isinstance(node.tag, str):
            name = etree.QName(node).localname
            node.tag = (renames or {}).get(name, name)
            for key in list(node.attrib):
                if key.startswith("{"):
                    del node.attrib[key]
    etree.cleanup_namespaces(copy)
    parts = [copy.text or ""]
    parts += [etree.tostring(c, encoding="unicode", method="html", with_tail=True) for c in copy]
    return "".join(parts).strip()


def _linked_picture(
    meta: etree._Element | None, pictures: dict[str, etree._Element]
) -> etree._Element | None:
    for link in _all(meta, "link"):
        for target in (link.get("residref"), link.get("href")):
            if target and target in pictures:
                return pictures[target]
    return None


def _picture(picture: etree._Element) -> dict[str, Any] | None:
    """A picture item as a ninjs picture association: its renditions with their sizes, its
    caption and its credit line."""
    renditions: dict[str, dict[str, Any]] = {}
    for number, remote in enumerate(_all(child(picture, "contentSet"), "remoteContent")):
        href = remote.get("href", "").strip()
        if not _HTTP.match(href):
            continue  # a relative file of the sender's, which no reader could fetch
        rendition: dict[str, Any] = {"href": href}
        for size in ("width", "height"):
            if (remote.get(size) or "").isdigit():
                rendition[size] = int(remote.get(size, "0"))
        name = re.split(r"[:/]", remote.get("rendition", ""))[-1] or str(number)
        renditions.setdefault(name, rendition)
    if not renditions:
        return None
    meta, content = child(picture, "itemMeta"), child(picture, "contentMeta")
    feature: dict[str, Any] = {"type": "picture", "renditions": renditions}
    caption = _summary(content)
    if caption:
        feature["description_text"] = caption
    for description in _all(content, "description"):
        if description.get("role", "").lower().endswith("alternativetext") and text(description):
            feature["headline"] = text(description)  # ninjs's alt text
    credit = text(child(content, "creditline")) or text(child(meta, "creditline"))
    if credit:
        feature["by"] = credit
    return feature
