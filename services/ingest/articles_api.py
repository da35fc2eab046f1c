"""Parsing of ingest request bodies into validated articles, with field-named errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import orjson
from pydantic import ValidationError

from services.ingest.errors import BadRequest, InvalidArticle, field_errors
from shared.html_limits import HtmlLimits
from shared.models import Article, ingest_context
from shared.settings import Settings

BATCH_KEYS = frozenset({"articles"})
_T = TypeVar("_T")


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc


def article_schema() -> dict[str, Any]:
    """The Article's JSON schema with its definitions inlined: it is placed inside a path's
    request body, where `#/$defs/...` would point at nothing."""
    schema = Article.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(definitions[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    return inline(schema)


def batch_schema() -> dict[str, Any]:
    """The batch body: any items, since an invalid one is reported in its result
    (status `invalid`, with its errors) rather than failing the batch."""
    return {
        "type": "object",
        "required": ["articles"],
        "additionalProperties": False,
        "properties": {
            "articles": {
                "type": "array",
                "items": {"description": "an article (see PUT); anything else is `invalid`"},
                "description": "at most `max_batch_items` (1,000) articles, each validated "
                "on its own: an invalid one gets the result `invalid` with its errors",
            }
        },
    }


def html_limits(settings: Settings) -> HtmlLimits:
    return HtmlLimits(
        max_depth=settings.html_max_depth,
        max_elements=settings.html_max_elements,
        max_attributes=settings.html_max_attributes,
    )


def validate_article(
    data: Any, settings: Settings, path_id: str | None = None, now: datetime | None = None
) -> Article:
    """Validate one article; in a PUT the path's id fills or must match the body's. `now`
    (default: the system clock) bounds its dates.

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
    context = ingest_context(settings.language, now or datetime.now(UTC), html_limits(settings))
    try:
        return Article.model_validate(data, context=context)
    except ValidationError as exc:
        fields = field_errors(exc)
        raise InvalidArticle("invalid " + ", ".join(f["field"] for f in fields), fields) from exc


@dataclass
class Batch:
    """A batch request, validated item by item: invalid items already have their result."""

    results: list[dict[str, Any] | None]
    valid: list[tuple[int, Article]] = field(default_factory=list)


def validate_batch(data: Any, settings: Settings, now: datetime | None = None) -> Batch:
    """Validate `{"articles": [...]}`; one bad item does not fail the others.

    Raises:
        InvalidArticle: `articles` is missing, not a list, or over the item limit, or the
            body has another key.
    """
    unknown = sorted(set(data) - BATCH_KEYS) if isinstance(data, dict) else []
    if unknown:
        fields = [{"field": key, "message": "Extra inputs are not permitted"} for key in unknown]
        raise InvalidArticle("invalid " + ", ".join(unknown), fields)
    now = now or datetime.now(UTC)
    items = data.get("articles") if isinstance(data, dict) else None
    if not isinstance(items, list) or len(items) > settings.max_batch_items:
        message = f"must be a list of at most {settings.max_batch_items} articles"
        raise InvalidArticle("invalid articles", [{"field": "articles", "message": message}])
    batch = Batch(results=[None] * len(items))
    for index, item in enumerate(items):
        try:
            batch.valid.append((index, validate_article(item, settings, now=now)))
        except InvalidArticle as exc:
            fields = [{**f, "field": f"articles.{index}.{f['field']}"} for f in exc.fields]
            item_id = item.get("id") if isinstance(item, dict) else None
            batch.results[index] = {"id": item_id, "status": "invalid", "errors": fields}
    return batch


def utc_now() -> datetime:
    return datetime.now(UTC)


class Validator:
    """Parses and validates request bodies on worker threads, at most `threads` at once, so
    the event loop keeps answering while a large or hostile body is sanitized (the sanitizer
    releases the GIL; the rest is bounded by the HTML limits)."""

    def __init__(
        self, settings: Settings, clock: Callable[[], datetime] = utc_now, threads: int = 1
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.threads = threads
        self._limiter: anyio.CapacityLimiter | None = None

    async def article(self, body: bytes, path_id: str) -> Article:
        def work() -> Article:
            article = validate_article(parse_json(body), self.settings, path_id, self.clock())
            article.serialized()  # cached: the writer then does not serialize on the loop
            return article

        return await self._run(work)

    async def batch(self, body: bytes) -> Batch:
        def work() -> Batch:
            batch = validate_batch(parse_json(body), self.settings, self.clock())
            for _, article in batch.valid:
                article.serialized()
            return batch

        return await self._run(work)

    async def _run(self, work: Callable[[], _T]) -> _T:
        if self._limiter is None:  # made on first use: it belongs to the running event loop
            self._limiter = anyio.CapacityLimiter(self.threads)
        return await anyio.to_thread.run_sync(work, limiter=self._limiter)
