"""Sitemap validation against the published XSDs (tests/data/schemas), extensions included.

The core schemas take extension elements with `processContents="strict"`, so one schema set
imports the core and every extension we emit.
"""

from __future__ import annotations

from functools import cache

from lxml import etree

from tests.conftest import DATA

_IMPORTS = {
    "http://www.sitemaps.org/schemas/sitemap/0.9": None,  # urlset or sitemapindex, below
    "http://www.google.com/schemas/sitemap-image/1.1": "sitemap-image.xsd",
    "http://www.google.com/schemas/sitemap-news/0.9": "sitemap-news.xsd",
}


@cache
def _schema(core: str) -> etree.XMLSchema:
    folder = DATA / "schemas"
    imports = "".join(
        f'<xsd:import namespace="{ns}" schemaLocation="{(folder / (name or core)).as_uri()}"/>'
        for ns, name in _IMPORTS.items()
    )
    wrapper = (
        '<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        f'targetNamespace="urn:newswire:tests" elementFormDefault="qualified">{imports}'
        "</xsd:schema>"
    )
    return etree.XMLSchema(etree.fromstring(wrapper.encode()))


def validate(document: bytes) -> etree._Element:
    """Parse a sitemap or sitemap index and validate it; returns the root element.

    Raises:
        AssertionError: it does not validate; the message lists the schema's errors.
    """
    root = etree.fromstring(document)
    core = "siteindex.xsd" if etree.QName(root).localname == "sitemapindex" else "sitemap.xsd"
    schema = _schema(core)
    if not schema.validate(root):
        raise AssertionError("\n".join(str(error) for error in schema.error_log))
    return root
