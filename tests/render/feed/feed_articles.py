"""Articles for feed-rendering tests: validated as ingest validates them, newest first."""

from __future__ import annotations

from typing import Any

from shared.article import Article

# The corpus article the Dünya set gives an image and a byline with a URL.
WITH_IMAGE = "dunya-2026-01-18-putin-temsilcisi-trump"
IMAGE_URL = "https://haber.example.com.tr/img/a.jpg"


def articles(raw: list[dict[str, Any]]) -> list[Article]:
    validated = [Article.model_validate(a, context={"default_language": "tr"}) for a in raw]
    return sorted(validated, key=lambda a: a.published_at, reverse=True)


def dunya_articles(corpus: list[dict[str, Any]], seed: dict[str, Any]) -> list[Article]:
    """The corpus's Dünya section, one article with an image and an author with a URL."""
    raw = [seed] + [a for a in corpus[1:] if a["section"] == "Dünya"]
    index = next(i for i, a in enumerate(raw) if a["id"] == WITH_IMAGE)
    raw[index] = {
        **raw[index],
        "image": {"url": IMAGE_URL, "alt": "Görsel"},
        "authors": [{"name": "Ayşe Yıldırım", "url": "https://haber.example.com.tr/ayse"}],
    }
    return articles(raw)
