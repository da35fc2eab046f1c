"""Ingest routes: parse, call the article writer, map its result."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from services.ingest.articles_api import Validator, article_schema, batch_schema
from services.ingest.auth import ARTICLES_WRITE, ApiKey, authorized
from services.ingest.errors import ERROR_RESPONSES, Forbidden, Gone, NotFound
from shared.articles import ArticleWriter, WriteResult
from shared.models import ARTICLE_ID_PATTERN

# Preparing a pipelined write costs tens of µs an article on the event loop: a batch is written
# in chunks, so 1,000 articles never hold the loop for long.
_WRITE_CHUNK = 100
router = APIRouter(prefix="/v1", default_response_class=JSONResponse, responses=ERROR_RESPONSES)
ArticleId = Annotated[str, Path(pattern=ARTICLE_ID_PATTERN)]


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI for a body the route parses itself (to control defaults and error shape)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_ARTICLE_BODY = _json_body(article_schema())
_BATCH_BODY = _json_body(batch_schema())


async def publisher(key: Annotated[ApiKey, Depends(authorized(ARTICLES_WRITE))]) -> str:
    return key.publisher


async def writer(request: Request) -> ArticleWriter:
    return request.app.state.writer


Publisher = Annotated[str, Depends(publisher)]
Writer = Annotated[ArticleWriter, Depends(writer)]


def _respond(result: WriteResult) -> JSONResponse:
    if result.status == "forbidden":
        raise Forbidden(f"article {result.id!r} belongs to another publisher")
    if result.status == "not_found":
        raise NotFound(f"no article {result.id!r}")
    body = {"id": result.id, "status": result.status, "revision": result.revision}
    return JSONResponse(body, status_code=201 if result.status == "created" else 200)


@router.put(
    "/articles/{article_id}",
    openapi_extra=_ARTICLE_BODY,
    responses={201: {"description": "created: the article's first revision"}},
)
async def put_article(article_id: ArticleId, request: Request, who: Publisher, w: Writer) -> Any:
    validator: Validator = request.app.state.validator  # off the event loop
    article = await validator.article(await request.body(), article_id)
    return _respond(await w.upsert(article, who))


@router.delete("/articles/{article_id}")
async def delete_article(article_id: ArticleId, who: Publisher, w: Writer) -> Any:
    return _respond(await w.retract(article_id, who))


@router.get("/articles/{article_id}")
async def get_article(article_id: ArticleId, who: Publisher, w: Writer) -> Any:
    article, meta = await w.get(article_id)
    if not meta:
        raise NotFound(f"no article {article_id!r}")
    if meta["publisher"] != who:
        raise Forbidden(f"article {article_id!r} belongs to another publisher")
    if article is None:
        raise Gone(f"article {article_id!r} was retracted")
    return {"article": article.model_dump(mode="json"), "revision": int(meta["rev"])}


@router.post("/articles:batch", openapi_extra=_BATCH_BODY)
async def batch_articles(request: Request, who: Publisher, w: Writer) -> Any:
    batch = await request.app.state.validator.batch(await request.body())
    articles = [article for _, article in batch.valid]
    written = []
    for start in range(0, len(articles), _WRITE_CHUNK):  # the loop serves others in between
        written += await w.upsert_many(articles[start : start + _WRITE_CHUNK], who)
    for (index, _), result in zip(batch.valid, written, strict=True):
        batch.results[index] = {
            "id": result.id,
            "status": result.status,
            "revision": result.revision,
        }
    return {"results": batch.results}
