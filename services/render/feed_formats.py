"""Render a `Feed` as RSS 2.0, Atom 1.0 (both via feedgen) or JSON Feed 1.1.

The only module that imports feedgen.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from feedgen.feed import FeedGenerator

from services.render.feed_model import Feed

GENERATOR = "Newswire"


def render_rss(feed: Feed) -> bytes:
    return _generator(feed, "rss").rss_str(pretty=False)


def render_atom(feed: Feed) -> bytes:
    return _generator(feed, "atom").atom_str(pretty=False)


def render_json(feed: Feed) -> bytes:
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": feed.title,
        "home_page_url": feed.home_url,
        "feed_url": feed.self_urls["json"],
        "description": feed.description,
        "language": feed.language,
        "items": [
            {
                "id": item.guid,
                "url": item.url,
                "title": item.title,
                "summary": item.summary,
                "content_html": item.content_html,
                "date_published": item.published.isoformat(),
                "date_modified": item.updated.isoformat(),
                "authors": [
                    {"name": a.name, **({"url": a.url} if a.url else {})} for a in item.authors
                ],
                "tags": [c.term for c in item.categories],
                **({"image": item.image.url} if item.image else {}),
                **({"language": item.language} if item.language else {}),
            }
            for item in feed.items
        ],
    }
    return orjson.dumps(document)


RENDERERS: dict[str, Callable[[Feed], bytes]] = {
    "rss": render_rss,
    "atom": render_atom,
    "json": render_json,
}


def _generator(feed: Feed, fmt: str) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.load_extension("media")
    fg.id(feed.guid)
    fg.title(feed.title)
    fg.description(feed.description)
    fg.language(feed.language)
    fg.generator(GENERATOR)
    fg.updated(feed.updated)
    fg.lastBuildDate(feed.updated)
    # RSS takes the channel <link> from the last link added: self first, site last.
    fg.link(href=feed.self_urls[fmt], rel="self")
    fg.link(href=feed.home_url, rel="alternate")
    for item in feed.items:
        entry = fg.add_entry(order="append")
        entry.id(item.guid)
        entry.guid(item.guid, permalink=False)
        entry.title(item.title)
        entry.link(href=item.url, rel="alternate")
        if item.summary:
            entry.summary(item.summary)
        if item.content_html:
            entry.content(item.content_html, type="html")
        entry.published(item.published)
        entry.updated(item.updated)
        for person in item.authors:
            entry.author({"name": person.name, **({"uri": person.url} if person.url else {})})
            entry.dc.dc_creator(person.name)
        for category in item.categories:
            entry.category(term=category.term, scheme=category.scheme, label=category.term)
        if item.image:
            entry.enclosure(item.image.url, "0", item.image.media_type)
            entry.media.content(url=item.image.url, medium="image", type=item.image.media_type)
        if item.comments_url:
            entry.comments(item.comments_url)
    return fg
