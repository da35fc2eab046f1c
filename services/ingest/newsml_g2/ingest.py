"""A NewsML-G2 document in: parsed safely, mapped, validated whole, then written. The API
route and the `newswire import`/`watch` commands share it, so a file and a POST are read
and stored alike.

A document is all or nothing: if any text item is invalid, none is written (an agency
resends the document whole, and a half-stored newsMessage would leave an article without
its update or a picture without its story)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.ingest.body_validation import validate_article
from services.ingest.errors import BadRequest, InvalidArticle
from services.ingest.newsml_g2.mapping import NotNewsMl, TextItem, text_items
from services.ingest.newsml_g2.parsing import UnsafeOrInvalidXml, parse
from services.ingest.ninjs.writing import options as ninjs_options
from shared.article import Article
from shared.settings import Settings
from shared.state.article_writer import ArticleWriter, WriteResult


@dataclass
class Prepared:
    """A document's text items, each with its validated article, or None to retract it."""

    items: list[tuple[TextItem, Article | None]]


def prepare(document: bytes, settings: Settings, now: datetime) -> Prepared:
    """Parse, map and validate a whole document (CPU only: callers run it off the loop).

    Raises:
        BadRequest: not safe, well-formed XML, or not a newsItem or newsMessage, or no text
            item in it.
        InvalidArticle: a text item is wrong; every wrong field is named `items.N.field`.
    """
    try:
        items = text_items(parse(document), now, ninjs_options(settings))
    except (UnsafeOrInvalidXml, NotNewsMl) as exc:
        raise BadRequest(str(exc)) from None
    if not items:
        raise BadRequest(
            "the document holds no text item (itemClass ninat:text): pictures alone are "
            "not articles; send them in one newsMessage with their story"
        )
    errors: list[dict[str, str]] = []
    prepared: list[tuple[TextItem, Article | None]] = []
    for item in items:
        if item.retract:
            errors += [e for e in item.errors if e["field"].endswith(".guid")]
            prepared.append((item, None))
            continue
        errors += item.errors
        if item.errors:
            continue
        try:
            article = validate_article(item.article, settings, now=now)
        except InvalidArticle as exc:
            prefix = f"items.{item.index}."
            errors += [{**f, "field": prefix + f["field"]} for f in exc.fields]
            continue
        article.serialized()  # cached here, off the event loop
        prepared.append((item, article))
    if errors:
        raise InvalidArticle("invalid " + ", ".join(e["field"] for e in errors), errors)
    return Prepared(prepared)


async def store(prepared: Prepared, writer: ArticleWriter, publisher: str) -> list[dict[str, Any]]:
    """Write the articles and retractions; one result per text item, in document order:
    `{"id", "guid", "status", "revision"}`, status as a batch's (`conflict` for another
    publisher's id, with its error)."""
    upserts = [(item, a) for item, a in prepared.items if a is not None]
    written = await writer.upsert_many([a for _, a in upserts], publisher) if upserts else []
    by_index = {item.index: r for (item, _), r in zip(upserts, written, strict=True)}
    for item, article in prepared.items:
        if article is None:
            by_index[item.index] = await writer.retract(str(item.article["id"]), publisher)
    return [_result(item, by_index[item.index]) for item, _ in prepared.items]


def created_any(results: list[dict[str, Any]]) -> bool:
    return any(r["status"] == "created" for r in results)


def _result(item: TextItem, result: WriteResult) -> dict[str, Any]:
    if result.status == "forbidden" and item.retract:
        # As DELETE answers it: another publisher's article is no article to this key.
        return {"id": result.id, "guid": item.guid, "status": "not_found", "revision": 0}
    if result.status == "forbidden":
        error = {
            "field": f"items.{item.index}.guid",
            "message": "cannot be written with this key: it names another publisher's article",
        }
        return {"id": result.id, "guid": item.guid, "status": "conflict", "errors": [error]}
    return {
        "id": result.id,
        "guid": item.guid,
        "status": result.status,
        "revision": result.revision,
    }
