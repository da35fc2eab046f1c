"""A ninjs document through ingest's one write path: checked against its schema, mapped,
validated as an article, then upserted, or retracted when its pubstatus says so."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.ingest.audited_writer import AuditedWriter
from services.ingest.body_validation import (
    INLINE_MAX_BYTES,
    Validator,
    parse_json,
    validate_article,
)
from services.ingest.errors import InvalidArticle
from services.ingest.ninjs.mapping import (
    Mapped,
    NinjsOptions,
    NinjsUnmappable,
    map_ninjs,
    ninjs_id,
    retracts,
    source_field,
)
from services.ingest.ninjs.schemas import NinjsInvalid, validate
from shared.article import Article
from shared.settings import Settings
from shared.state.article_writer import WriteResult


@dataclass(frozen=True)
class Prepared:
    """What a document asks for: an article to upsert, or an id to retract."""

    article_id: str
    article: Article | None


def options(settings: Settings) -> NinjsOptions:
    return NinjsOptions(
        section_scheme=settings.ninjs_section_scheme, site_url=str(settings.site_url)
    )


def traced(fields: list[dict[str, str]], mapped: Mapped) -> list[dict[str, str]]:
    """`fields` of the mapped article, each named by the ninjs path it came from."""
    return [{**f, "field": source_field(mapped.sources, f["field"])} for f in fields]


def prepare(
    document: Any, settings: Settings, now: datetime, path_id: str | None = None
) -> Prepared:
    """Check and map one document; in a PUT the path's id is the article's.

    Raises:
        InvalidArticle: naming the ninjs path of each error (the schema's, or the mapped
            article's traced back to where it came from).
    """
    try:
        validate(document)
        if retracts(document):
            return Prepared(path_id or ninjs_id(document), None)
        mapped = map_ninjs(document, received_at=now, options=options(settings))
    except (NinjsInvalid, NinjsUnmappable) as exc:
        raise InvalidArticle(str(exc), exc.fields) from None
    if path_id is not None:
        mapped.article["id"] = path_id
    try:
        article = validate_article(mapped.article, settings, now=now)
    except InvalidArticle as exc:
        fields = traced(exc.fields, mapped)
        names = ", ".join(dict.fromkeys(f["field"] for f in fields))
        raise InvalidArticle(f"invalid {names}", fields) from None
    article.serialized()  # cached: the writer then does not serialize on the event loop
    return Prepared(article.id, article)


async def write_ninjs(
    body: bytes,
    publisher: str,
    validator: Validator,
    writer: AuditedWriter,
    path_id: str | None = None,
) -> WriteResult:
    """Parse, check and write one ninjs document for `publisher`; a large one is checked on
    the validator's threads, so the event loop keeps answering."""

    def work() -> Prepared:
        return prepare(parse_json(body), validator.settings, validator.clock(), path_id)

    prepared = await validator._run(work) if len(body) > INLINE_MAX_BYTES else work()
    if prepared.article is None:
        return await writer.retract(prepared.article_id, publisher)
    return await writer.upsert(prepared.article, publisher)
