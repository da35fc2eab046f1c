"""Parsing of ingest request bodies into validated articles, with field-named errors."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import orjson
from pydantic import ValidationError

from services.ingest.errors import BadRequest, InvalidArticle, field_errors
from shared.article import Article, ingest_context
from shared.html.limits import HtmlLimits
from shared.net.addresses import IPNetwork
from shared.settings import Settings

BATCH_KEYS = frozenset({"articles"})
# A body this small, whose HTML has at most this many tags, is validated on the event loop:
# the costliest such body the HTML limits accept takes about 3 ms (attributes at their limit),
# a typical article a fifth of a millisecond, while handing it to a thread costs about that
# much again in locks and GIL hand-offs. Anything larger goes to the validation thread, so a
# flood of hostile bodies never holds up the loop for long (tests/ingest/test_responsiveness).
INLINE_MAX_BYTES = 8 * 1024
INLINE_MAX_TAGS = 128
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


def allow_networks(settings: Settings) -> tuple[IPNetwork, ...]:
    """The networks images may come from although not public: the guarded fetcher's."""
    return _networks(tuple(settings.fetch_allow_networks))


@cache
def _networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


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
    context = ingest_context(
        settings.language, now or datetime.now(UTC), html_limits(settings), allow_networks(settings)
    )
    try:
        return Article.model_validate(data, context=context)
    except ValidationError as exc:
        fields = field_errors(exc)
        raise InvalidArticle("invalid " + ", ".join(f["field"] for f in fields), fields) from exc


@dataclass
class Batch:
    """Batch items, validated one by one: invalid items already have their result."""

    results: list[dict[str, Any] | None]  # one per item, in order
    valid: list[tuple[int, Article]] = field(default_factory=list)  # (batch index, article)


def batch_items(data: Any, settings: Settings) -> list[Any]:
    """The items of a batch body, `{"articles": [...]}`.

    Raises:
        InvalidArticle: `articles` is missing, not a list, or over the item limit, or the
            body has another key.
    """
    unknown = sorted(set(data) - BATCH_KEYS) if isinstance(data, dict) else []
    if unknown:
        fields = [{"field": key, "message": "Extra inputs are not permitted"} for key in unknown]
        raise InvalidArticle("invalid " + ", ".join(unknown), fields)
    items = data.get("articles") if isinstance(data, dict) else None
    if not isinstance(items, list) or len(items) > settings.max_batch_items:
        message = f"must be a list of at most {settings.max_batch_items} articles"
        raise InvalidArticle("invalid articles", [{"field": "articles", "message": message}])
    return items


def validate_items(
    items: Sequence[Any], settings: Settings, now: datetime, first: int = 0
) -> Batch:
    """Validate batch items, the first of them item number `first` of its batch; one bad item
    does not fail the others."""
    batch = Batch(results=[None] * len(items))
    for offset, item in enumerate(items):
        index = first + offset
        try:
            batch.valid.append((index, validate_article(item, settings, now=now)))
        except InvalidArticle as exc:
            fields = [{**f, "field": f"articles.{index}.{f['field']}"} for f in exc.fields]
            item_id = item.get("id") if isinstance(item, dict) else None
            batch.results[offset] = {"id": item_id, "status": "invalid", "errors": fields}
    return batch


def _tags(item: Any) -> int:
    """How many tags an article's HTML may hold (what its validation costs grows with)."""
    html = item.get("body_html") if isinstance(item, dict) else None
    return html.count("<") if isinstance(html, str) else 0


def utc_now() -> datetime:
    return datetime.now(UTC)


class Validator:
    """Parses and validates request bodies: small ones on the event loop, the rest on worker
    threads, at most `threads` at once, so the event loop keeps answering while a large or
    hostile body is sanitized (the sanitizer releases the GIL; the rest is bounded by the HTML
    limits)."""

    def __init__(
        self, settings: Settings, clock: Callable[[], datetime] = utc_now, threads: int = 1
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.threads = threads
        self._limiter: anyio.CapacityLimiter | None = None

    async def article(self, body: bytes, path_id: str) -> Article:
        def work(data: Any) -> Article:
            article = validate_article(data, self.settings, path_id, self.clock())
            article.serialized()  # cached: the writer then does not serialize on the loop
            return article

        if len(body) > INLINE_MAX_BYTES:
            return await self._run(lambda: work(parse_json(body)))
        data = parse_json(body)
        if _tags(data) > INLINE_MAX_TAGS:
            return await self._run(lambda: work(data))
        return work(data)

    async def batch(self, body: bytes, chunk: int) -> AsyncIterator[Batch]:
        """The batch's items validated `chunk` at a time, in order, so that the caller can
        write each part while the next one is validated.

        Raises:
            BadRequest, InvalidArticle: as `parse_json` and `batch_items`, before any part.
        """
        small = len(body) <= INLINE_MAX_BYTES
        if small:
            items = batch_items(parse_json(body), self.settings)
        else:
            items = await self._run(lambda: batch_items(parse_json(body), self.settings))
        now = self.clock()
        for first in range(0, len(items), chunk):
            part = items[first : first + chunk]

            def work(part: list[Any] = part, first: int = first) -> Batch:
                batch = validate_items(part, self.settings, now, first)
                for _, article in batch.valid:
                    article.serialized()
                return batch

            if small and sum(map(_tags, part)) <= INLINE_MAX_TAGS:
                yield work()
            else:
                yield await self._run(work)

    async def _run(self, work: Callable[[], _T]) -> _T:
        if self._limiter is None:  # made on first use: it belongs to the running event loop
            self._limiter = anyio.CapacityLimiter(self.threads)
        return await anyio.to_thread.run_sync(work, limiter=self._limiter)
