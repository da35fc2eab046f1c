"""What a monthly sitemap partition keeps of an article: its `<url>` entry, rendered when the
article is written, and the frame of the file those entries are joined into.

Entries are stored beside the target's index, so building a partition is a join rather than
a parse of every article in it. Text reaching here has had XML-forbidden characters removed
on ingest; everything is still escaped.
"""

from __future__ import annotations

from datetime import datetime
from xml.sax.saxutils import escape

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
IMAGE_NS = "http://www.google.com/schemas/sitemap-image/1.1"

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
URLSET_OPEN = f'{DECLARATION}<urlset xmlns="{SITEMAP_NS}" xmlns:image="{IMAGE_NS}">\n'
URLSET_CLOSE = "</urlset>\n"
# What a partition file holds besides its entries; budgets of bytes leave room for it.
URLSET_OVERHEAD = len((URLSET_OPEN + URLSET_CLOSE).encode())
# The protocol's limit on a loc; a longer (percent-encoded) URL cannot be listed.
MAX_LOC = 2048


def url_entry(loc: str, lastmod: datetime, image: str | None = None) -> str:
    """One `<url>` of a monthly partition, with the image extension when there is an image."""
    parts = [f"<url><loc>{escape(loc)}</loc><lastmod>{lastmod.isoformat()}</lastmod>"]
    if image:
        parts.append(f"<image:image><image:loc>{escape(image)}</image:loc></image:image>")
    parts.append("</url>\n")
    return "".join(parts)
