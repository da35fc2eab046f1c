"""The card kind at write time: a social card image and its Open Graph / Twitter page for each
recent article.

`card:<id>` → `cards/<id>.jpg` (1200×630) and `cards/<id>.html`. The page follows every
change of what it shows, so the target's fingerprint covers every field either shows.
"""

from __future__ import annotations

import re

from shared.article import ARTICLE_ID_PATTERN, Article
from shared.kinds.base import Kind
from shared.kinds.entries import TargetEntry, fingerprint
from shared.state.article_reader import ArticleReader

_DAY_MS = 86_400_000
_ARTICLE_ID = re.compile(ARTICLE_ID_PATTERN)


def article_id(target: str) -> str:
    """The article a card target belongs to.

    Raises:
        ValueError: not a card target of a valid article id.
    """
    prefix, _, rest = target.partition(":")
    if prefix != "card" or not _ARTICLE_ID.fullmatch(rest):
        raise ValueError(f"unknown target {target!r}")
    return rest


class CardKind(Kind):
    name = "card"
    queue = "cards"
    renderer = "services.render.card.renderer:CardRenderer"

    def validate(self, target: str) -> None:
        article_id(target)

    def entries(self, article: Article) -> list[TargetEntry]:
        # Archives get no cards: sharing happens near publication, and a million cards would
        # cost hours of rendering and a hundred gigabytes for pages nobody shares.
        recent = self.settings.card_recent_days
        published = article.published_at.timestamp() * 1000
        if recent and published < self.clock() * 1000 - recent * _DAY_MS:
            return []
        return [TargetEntry(f"card:{article.id}", fingerprint(*_page_fields(article)))]

    def paths(self, target: str) -> list[str]:
        ident = article_id(target)
        return [f"cards/{ident}.jpg", f"cards/{ident}.html"]

    def known_targets(self, reader: ArticleReader) -> list[str]:
        return reader.targets(f"{self.name}:")


def _page_fields(article: Article) -> tuple[object, ...]:
    """Everything the card image and page show of an article."""
    image = article.image and (str(article.image.url), article.image.alt)
    return (
        article.title,
        article.summary,
        str(article.url),
        article.section,
        tuple(article.tags),
        article.published_at,
        article.modified,
        article.language,
        image,
    )
