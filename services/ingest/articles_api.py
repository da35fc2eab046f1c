"""Parsing of ingest request bodies into validated articles, with field-named errors."""

from __future__ import annotations

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
