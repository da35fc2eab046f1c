"""A pushed ninjs item made an article: its images pointed at the assets the destination
pushed, then mapped and validated as every ninjs document is.

Superdesk sends each rendition with `href` (its own URL for the file, often internal) and
`media` (the media id it uploaded the file under). A rendition whose media this destination
pushed points at our copy; one whose media it did not push is dropped, so no article points
readers, or the card worker, at Superdesk itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from services.ingest.body_validation import validate_article
from services.ingest.errors import InvalidArticle, field_errors
from services.ingest.ninjs.mapping import (
    Mapped,
    NinjsUnmappable,
    map_ninjs,
    ninjs_id,
    retracts,
)
from services.ingest.ninjs.writing import options, traced
from services.ingest.superdesk.assets import MEDIA_PREFIX, media_url
from shared.article import Article
from shared.settings import Settings

# Superdesk nests a picture's own associations one level below the item's.
_DEPTH = 2


# Superdesk's deepest items (a package's picture's renditions' point of interest) nest about
# ten levels; a document nesting deeper is hostile, and refused before anything reads it.
MAX_NESTING = 32


def nesting_within(document: Any, limit: int = MAX_NESTING) -> bool:
    """Whether `document` nests at most `limit` objects and arrays deep (without recursion)."""
    level: list[Any] = [document]
    for _ in range(limit):
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
        if not level:
            return True
    return False


@dataclass(frozen=True)
class Pushed:
    article: Article | None  # None: the item retracts `article_id`
    article_id: str


def _associations(document: dict[str, Any]) -> list[dict[str, Any]]:
    # Keyed by name in ninjs 1.x (and Superdesk), a list from 2.x on.
    found = document.get("associations")
    values = found.values() if isinstance(found, dict) else found if isinstance(found, list) else []
    return [a for a in values if isinstance(a, dict)]


def _rendition_maps(document: dict[str, Any], depth: int = _DEPTH) -> Iterator[Any]:
    """The renditions of `document` and of its associations, `depth` levels down."""
    if isinstance(document.get("renditions"), dict | list):
        yield document["renditions"]
    if depth:
        for association in _associations(document):
            yield from _rendition_maps(association, depth - 1)


def _entries(renditions: Any) -> list[tuple[Any, dict[str, Any]]]:
    pairs = renditions.items() if isinstance(renditions, dict) else enumerate(renditions)
    return [(key, value) for key, value in pairs if isinstance(value, dict)]


def media_ids(document: dict[str, Any]) -> set[str]:
    return {
        rendition["media"]
        for renditions in _rendition_maps(document)
        for _, rendition in _entries(renditions)
        if isinstance(rendition.get("media"), str)
    }


def with_own_media(
    document: dict[str, Any], held: dict[str, str], settings: Settings, depth: int = _DEPTH
) -> dict[str, Any]:
    """A copy of `document` whose renditions point at our copies of the pushed media (only
    what changes is copied: a hostile document may nest deeper than a deep copy can go)."""
    document = dict(document)
    renditions = document.get("renditions")
    if isinstance(renditions, dict | list):
        kept = [(key, _own(r, held, settings)) for key, r in _entries(renditions)]
        kept = [(key, r) for key, r in kept if r is not None]
        document["renditions"] = (
            dict(kept) if isinstance(renditions, dict) else [r for _, r in kept]
        )
    associations = document.get("associations")
    if depth and isinstance(associations, dict):
        document["associations"] = {
            key: with_own_media(a, held, settings, depth - 1) if isinstance(a, dict) else a
            for key, a in associations.items()
        }
    elif depth and isinstance(associations, list):
        document["associations"] = [
            with_own_media(a, held, settings, depth - 1) if isinstance(a, dict) else a
            for a in associations
        ]
    return document


def _own(rendition: dict[str, Any], held: dict[str, str], settings: Settings) -> dict | None:
    """The rendition pointing at our copy of its media; None if its media was not pushed."""
    media = rendition.get("media")
    if not isinstance(media, str):
        return rendition
    if media not in held:
        return None
    return {**rendition, "href": media_url(settings, held[media])}


def to_article(document: dict[str, Any], settings: Settings, now: datetime) -> Pushed:
    """Map and validate a pushed item (its media already ours); errors name ninjs paths.

    Raises:
        InvalidArticle: the document cannot be mapped, or its article is invalid.
    """
    try:
        if retracts(document):  # a kill needs only the id of what it takes down
            return Pushed(None, ninjs_id(document))
        mapped = map_ninjs(document, received_at=now, options=options(settings))
    except NinjsUnmappable as exc:
        raise InvalidArticle(f"the item cannot be an article: {exc}", exc.fields) from exc
    except (TypeError, AttributeError, KeyError, ValueError, RecursionError) as exc:
        # A document of a shape no ninjs version has (the mapping expects a valid one).
        raise InvalidArticle(f"the item is not ninjs: {type(exc).__name__}") from exc
    data = mapped.article
    # Our own media URL may be on an address the image rule refuses at ingest (a local
    # stack's feeds service): the rest is checked as sent, then our image is put back.
    image = data.get("image")
    own = isinstance(image, dict) and str(image.get("url", "")).startswith(
        media_url(settings, MEDIA_PREFIX)
    )
    try:
        article = validate_article(
            {k: v for k, v in data.items() if not (own and k == "image")}, settings, now=now
        )
        if own:
            article = Article.model_validate(
                {**article.model_dump(mode="json"), "image": image}, context={"stored": True}
            )
    except ValidationError as exc:
        raise _named(InvalidArticle("invalid image", field_errors(exc)), mapped) from exc
    except InvalidArticle as exc:
        raise _named(exc, mapped) from exc
    return Pushed(article, article.id)


def _named(exc: InvalidArticle, mapped: Mapped) -> InvalidArticle:
    """`exc` with each article field named by the ninjs path it came from."""
    return InvalidArticle(exc.message, traced(exc.fields, mapped))
