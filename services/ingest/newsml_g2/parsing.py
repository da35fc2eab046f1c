"""Reading an untrusted NewsML-G2 document: no DTD, no entities, no network, bounded depth.

A document with a DOCTYPE is refused outright: NewsML-G2 needs none, and a DTD is where
entity bombs ("billion laughs") and external entities live. The size is bounded by the
caller (the request body limit, or the same limit for files)."""

from __future__ import annotations

import io

from lxml import etree

# NewsML-G2 nests a dozen levels, an inline XHTML or NITF body a few dozen more.
MAX_DEPTH = 100
G2_NS = "http://iptc.org/std/nar/2006-10-01/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


class UnsafeOrInvalidXml(ValueError):
    """The bytes are not a well-formed, safe XML document; the message says why."""


def parse(document: bytes, max_depth: int = MAX_DEPTH) -> etree._Element:
    """The document's root element.

    Raises:
        UnsafeOrInvalidXml: not well-formed, a DOCTYPE (so no entity could be declared),
            an entity reference, or nested deeper than `max_depth`.
    """
    events = etree.iterparse(
        io.BytesIO(document),
        events=("start", "end"),
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    depth = 0
    root: etree._Element | None = None
    try:
        for event, element in events:
            if event == "end":
                depth -= 1
                continue
            if root is None:
                root = element
                if element.getroottree().docinfo.doctype:
                    raise UnsafeOrInvalidXml(
                        "a DOCTYPE is not accepted (NewsML-G2 needs none): send the "
                        "document without one"
                    )
            depth += 1
            if depth > max_depth:
                raise UnsafeOrInvalidXml(
                    f"elements are nested deeper than {max_depth} levels: flatten the body"
                )
    except etree.XMLSyntaxError as exc:
        raise UnsafeOrInvalidXml(f"not well-formed XML: {exc}") from None
    if root is None:
        raise UnsafeOrInvalidXml("the document is empty: send a newsItem or a newsMessage")
    if any(isinstance(node, etree._Entity) for node in root.iter()):
        raise UnsafeOrInvalidXml("entity references are not accepted: write the characters")
    return root


def local(element: etree._Element) -> str:
    """An element's name without its namespace (G2 is sent with and without one)."""
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def children(element: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in element if local(child) == name]


def child(element: etree._Element | None, name: str) -> etree._Element | None:
    if element is None:
        return None
    return next((c for c in element if local(c) == name), None)


def text(element: etree._Element | None) -> str:
    """The element's text content, whitespace collapsed."""
    if element is None:
        return ""
    return " ".join("".join(element.itertext()).split())
