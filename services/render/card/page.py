"""Social card pages: a small HTML5 document of Open Graph and Twitter card meta tags."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

CARD_WIDTH, CARD_HEIGHT = 1200, 630


@dataclass(frozen=True)
class CardPage:
    """What one card page says, all plain text (escaped here) and absolute URLs.

    `description` may be empty: the description tags are then left out rather than repeating
    the title, which platforms already show above it. An empty `image_alt` becomes the title,
    the text the card image shows.
    """

    title: str
    description: str
    article_url: str
    card_image_url: str
    image_alt: str
    site_name: str
    locale: str  # Open Graph spelling: "tr_TR"
    language: str  # BCP 47: "tr"
    published: str  # ISO 8601 with offset
    modified: str
    section: str
    tags: tuple[str, ...] = ()


def _attr(value: str) -> str:
    return escape(value, quote=True)


def _meta_tags(page: CardPage) -> list[tuple[str, str, str]]:
    """(attribute, key, value) of every meta tag, in order: Open Graph, article, Twitter."""
    alt = page.image_alt or page.title
    og = [
        ("og:type", "article"),
        ("og:title", page.title),
        *([("og:description", page.description)] if page.description else []),
        ("og:url", page.article_url),
        ("og:site_name", page.site_name),
        ("og:locale", page.locale),
        ("og:image", page.card_image_url),
        ("og:image:type", "image/jpeg"),
        ("og:image:width", str(CARD_WIDTH)),
        ("og:image:height", str(CARD_HEIGHT)),
        ("og:image:alt", alt),
        ("article:published_time", page.published),
        ("article:modified_time", page.modified),
        *([("article:section", page.section)] if page.section else []),
        *(("article:tag", tag) for tag in page.tags),
    ]
    twitter = [
        ("twitter:card", "summary_large_image"),
        ("twitter:title", page.title),
        *([("twitter:description", page.description)] if page.description else []),
        ("twitter:image", page.card_image_url),
        ("twitter:image:alt", alt),
    ]
    # Open Graph is RDFa, so its keys go in `property`; Twitter's parser reads `name`.
    return [("property", k, v) for k, v in og] + [("name", k, v) for k, v in twitter]


def render_card_page(page: CardPage) -> bytes:
    """Return the UTF-8 HTML5 page: meta tags for crawlers, a headline and link for people.

    Every value is HTML-escaped (quotes included), so hostile text stays text. The page has
    no scripts, styles or other resources.
    """
    url = _attr(page.article_url)
    head = [
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(page.title)}</title>",
        f'<link rel="canonical" href="{url}">',
    ]
    if page.description:
        head.append(f'<meta name="description" content="{_attr(page.description)}">')
    head += [
        f'<meta {attr}="{key}" content="{_attr(value)}">' for attr, key, value in _meta_tags(page)
    ]
    body = [f"<p>{escape(page.section)}</p>"] if page.section else []
    body.append(f'<h1><a href="{url}">{escape(page.title)}</a></h1>')
    if page.description:
        body.append(f"<p>{escape(page.description)}</p>")
    body.append(f'<p><a href="{url}">{escape(page.site_name)}: {escape(page.article_url)}</a></p>')
    lines = [
        "<!doctype html>",
        f'<html lang="{_attr(page.language)}" prefix="og: https://ogp.me/ns# '
        'article: https://ogp.me/ns/article#">',
        "<head>",
        *head,
        "</head>",
        "<body>",
        "<article>",
        *body,
        "</article>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(lines).encode("utf-8")
