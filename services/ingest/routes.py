"""Ingest routes: parse, call the article writer, map its result."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import JSONResponse

from services.ingest.articles_api import parse_json, validate_article, validate_batch
from services.ingest.errors import Forbidden, Gone, NotFound
from shared.articles import ArticleWriter, WriteResult
from shared.models import ARTICLE_ID_PATTERN, Article

router = APIRouter(prefix="/v1", default_response_class=JSONResponse)
ArticleId = Annotated[str, Path(pattern=ARTICLE_ID_PATTERN)]


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI for a body the route parses itself (to control defaults and error shape)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_ARTICLE_BODY = _json_body(Article.model_json_schema())
_BATCH_BODY = _json_body(
    {
        "type": "object",
        "required": ["articles"],
        "properties": {"articles": {"type": "array", "items": Article.model_json_schema()}},
    }
)


async def publisher(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    return request.app.state.api_keys.publisher(authorization)


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


@router.put("/articles/{article_id}", openapi_extra=_ARTICLE_BODY)
async def put_article(article_id: ArticleId, request: Request, who: Publisher, w: Writer) -> Any:
    settings = request.app.state.settings
    article = validate_article(parse_json(await request.body()), settings, path_id=article_id)
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
    batch = validate_batch(parse_json(await request.body()), request.app.state.settings)
    written = await w.upsert_many([article for _, article in batch.valid], who)
    for (index, _), result in zip(batch.valid, written, strict=True):
        batch.results[index] = {
            "id": result.id,
            "status": result.status,
            "revision": result.revision,
        }
    return {"results": batch.results}
