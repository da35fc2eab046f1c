"""Parsing of ingest request bodies into validated articles, with field-named errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from services.ingest.errors import BadRequest, InvalidArticle, field_errors
from shared.models import Article
from shared.settings import Settings


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc


def validate_article(data: Any, settings: Settings, path_id: str | None = None) -> Article:
    """Validate one article; in a PUT the path's id fills or must match the body's.

    Raises:
        InvalidArticle: a field is wrong; every wrong field is named.
    """
    if not isinstance(data, dict):
        raise InvalidArticle(
            "an article must be a JSON object", [{"field": "body", "message": "expected an object"}]
        )
    if path_id is not None:
        body_id = data.setdefault("id", path_id)
        if body_id != path_id:
            raise InvalidArticle(
                "id in the body differs from the id in the path",
                [{"field": "id", "message": f"must equal the path id {path_id!r}"}],
            )
    try:
        return Article.model_validate(data, context={"default_language": settings.language})
    except ValidationError as exc:
        fields = field_errors(exc)
        raise InvalidArticle("invalid " + ", ".join(f["field"] for f in fields), fields) from exc


@dataclass
class Batch:
    """A batch request, validated item by item: invalid items already have their result."""

    results: list[dict[str, Any] | None]
    valid: list[tuple[int, Article]] = field(default_factory=list)


def validate_batch(data: Any, settings: Settings) -> Batch:
    """Validate `{"articles": [...]}`; one bad item does not fail the others.

    Raises:
        InvalidArticle: `articles` is missing, not a list, or over the item limit.
    """
    items = data.get("articles") if isinstance(data, dict) else None
    if not isinstance(items, list) or len(items) > settings.max_batch_items:
        message = f"must be a list of at most {settings.max_batch_items} articles"
        raise InvalidArticle("invalid articles", [{"field": "articles", "message": message}])
    batch = Batch(results=[None] * len(items))
    for index, item in enumerate(items):
        try:
            batch.valid.append((index, validate_article(item, settings)))
        except InvalidArticle as exc:
            fields = [{**f, "field": f"articles.{index}.{f['field']}"} for f in exc.fields]
            item_id = item.get("id") if isinstance(item, dict) else None
            batch.results[index] = {"id": item_id, "status": "invalid", "errors": fields}
    return batch
