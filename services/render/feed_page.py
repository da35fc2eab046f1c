"""A feed as an HTML page for people: the same feed model, readable in a browser."""

from __future__ import annotations

from html import escape

from services.render.feed_model import Feed


def render_html(feed: Feed) -> bytes:
    items = "".join(
        f"<li><a href='{escape(item.url)}'>{escape(item.title)}</a></li>" for item in feed.items
    )
    return (
        f"<!doctype html><html lang='{escape(feed.language)}'><meta charset='utf-8'>"
        f"<title>{escape(feed.title)}</title><h1>{escape(feed.title)}</h1><ul>{items}</ul></html>"
    ).encode()
