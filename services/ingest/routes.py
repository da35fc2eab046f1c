"""Ingest routes: parse, call the article writer, map its result."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine, Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError

from services.ingest.audited_writer import AuditedWriter
from services.ingest.auth import authorized, documented
from services.ingest.body_validation import Batch, Validator, article_schema, batch_schema
from services.ingest.errors import CONFLICT_RESPONSE, ERROR_RESPONSES, Conflict, Gone, NotFound
from shared.api_keys import ARTICLES_WRITE, ApiKey
from shared.article import ARTICLE_ID_PATTERN, NEW_ARTICLE_ID_PATTERN, Article
from shared.log_format import bind_log_context
from shared.state.article_writer import WriteResult

# Preparing a pipelined write costs tens of µs an article on the event loop: a batch is
# validated and written in parts, so 1,000 articles never hold the loop for long.
_WRITE_CHUNK = 100
router = APIRouter(prefix="/v1", default_response_class=JSONResponse, responses=ERROR_RESPONSES)
# Reading and retracting take any stored id (some were written before ids lost their leading
# dot); a PUT only one it may create (NEW_ARTICLE_ID_PATTERN).
ArticleId = Annotated[str, Path(pattern=ARTICLE_ID_PATTERN)]
_Endpoint = Callable[[Request], Coroutine[Any, Any, Any]]


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI for a body the route parses itself (to control defaults and error shape)."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}


# PUT, the hottest route, reads its path's id itself, as FastAPI would validate it (same
# answer, same document) but without its per-request parameter machinery.
_NEW_ARTICLE_ID = re.compile(NEW_ARTICLE_ID_PATTERN)
_NEW_ARTICLE_ID_ADAPTER: TypeAdapter[str] = TypeAdapter(
    Annotated[str, Path(pattern=NEW_ARTICLE_ID_PATTERN)]
)
_ARTICLE_ID_PARAMETER = {
    "in": "path",
    "name": "article_id",
    "required": True,
    "schema": {"pattern": NEW_ARTICLE_ID_PATTERN, "title": "Article Id", "type": "string"},
}


def _path_id(request: Request) -> str:
    """The path's article id (one a write may name), or the 422 FastAPI gives a declared
    parameter of that pattern."""
    article_id = request.path_params["article_id"]
    if not _NEW_ARTICLE_ID.fullmatch(article_id):
        try:
            _NEW_ARTICLE_ID_ADAPTER.validate_python(article_id)
        except ValidationError as exc:
            errors = [{**err, "loc": ("path", "article_id")} for err in exc.errors()]
            raise RequestValidationError(errors) from None
    return article_id


_authorize = authorized(ARTICLES_WRITE)
# The caller's key, once authorized (and within its rate limit).
Caller = Annotated[ApiKey, Depends(_authorize)]


class DirectRoute(APIRoute):
    """A route whose endpoint takes the request alone and reads all it needs itself, its
    caller's key first (`_authorize`, as the `Caller` dependency would). FastAPI's per-request
    dependency and parameter machinery cost more than all of a PUT's own HTTP handling; errors
    still go through the app's handlers, and the OpenAPI document comes from `openapi_extra`.
    For the write routes, which carry nearly all of the traffic."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint


def _direct(method: str, path: str, **options: Any) -> Callable[[_Endpoint], _Endpoint]:
    def add(endpoint: _Endpoint) -> _Endpoint:
        router.add_api_route(
            path, endpoint, methods=[method], route_class_override=DirectRoute, **options
        )
        return endpoint

    return add


def _writer(request: Request) -> AuditedWriter:
    return request.app.state.writer


# Another publisher's article is no article to a key: reading or retracting it is answered as
# for an id no one has, and a write names neither its owner nor its revision.
def _no_article(article_id: str) -> NotFound:
    return NotFound(f"no article {article_id!r}")


_NOT_YOURS = "cannot be written with this key: choose another id"


def _not_yours(article_id: str) -> Conflict:
    return Conflict(f"article id {article_id!r} {_NOT_YOURS}")


def _respond(result: WriteResult) -> JSONResponse:
    if result.status == "forbidden":
        raise _not_yours(result.id)
    if result.status == "not_found":
        raise _no_article(result.id)
    body = {"id": result.id, "status": result.status, "revision": result.revision}
    return JSONResponse(body, status_code=201 if result.status == "created" else 200)


@_direct(
    "PUT",
    "/articles/{article_id}",
    openapi_extra=documented(_ARTICLE_ID_PARAMETER, requestBody=_json_body(article_schema())),
    responses={201: {"description": "created: the article's first revision"}, **CONFLICT_RESPONSE},
)
async def put_article(request: Request) -> Any:
    caller = await _authorize(request)
    article_id = _path_id(request)
    # On the rest of the request's lines (its error line too); RequestIds unbinds it.
    bind_log_context(article_id=article_id)
    validator: Validator = request.app.state.validator  # large bodies off the event loop
    article = await validator.article(await request.body(), article_id)
    return _respond(await _writer(request).upsert(article, caller.publisher))


@router.delete("/articles/{article_id}", openapi_extra=documented())
async def delete_article(article_id: ArticleId, request: Request, caller: Caller) -> Any:
    bind_log_context(article_id=article_id)
    result = await _writer(request).retract(article_id, caller.publisher)
    if result.status == "forbidden":
        raise _no_article(article_id)
    return _respond(result)


@router.get("/articles/{article_id}", openapi_extra=documented())
async def get_article(article_id: ArticleId, request: Request, caller: Caller) -> Any:
    bind_log_context(article_id=article_id)
    found = await _writer(request).read_own(article_id, caller.publisher)
    if found is None:
        raise _no_article(article_id)
    article, revision = found
    if article is None:
        raise Gone(f"article {article_id!r} was retracted")
    return {"article": article.model_dump(mode="json"), "revision": revision}


@_direct(
    "POST", "/articles:batch", openapi_extra=documented(requestBody=_json_body(batch_schema()))
)
async def batch_articles(request: Request) -> Any:
    who, w = (await _authorize(request)).publisher, _writer(request)
    validator: Validator = request.app.state.validator
    results: list[dict[str, Any] | None] = []
    writes: list[tuple[Batch, asyncio.Task[list[WriteResult]]]] = []
    try:
        async for part in validator.batch(await request.body(), _WRITE_CHUNK):
            results += part.results
            # Written while the next part is validated, so Redis runs the one while Python
            # checks the other; each part is written after the one before it.
            after = writes[-1][1] if writes else None
            articles = [article for _, article in part.valid]
            writes.append((part, asyncio.create_task(_write_after(after, w, articles, who))))
        for part, write in writes:
            for (index, _), result in zip(part.valid, await write, strict=True):
                results[index] = _item_result(index, result)
    finally:
        _abandon(write for _, write in writes)
    return JSONResponse({"results": results})


def _item_result(index: int, result: WriteResult) -> dict[str, Any]:
    if result.status == "forbidden":  # as a PUT answers it: no owner, no revision
        error = {"field": f"articles.{index}.id", "message": _NOT_YOURS}
        return {"id": result.id, "status": "conflict", "errors": [error]}
    return {"id": result.id, "status": result.status, "revision": result.revision}


async def _write_after(
    before: asyncio.Task[list[WriteResult]] | None,
    writer: AuditedWriter,
    articles: list[Article],
    publisher: str,
) -> list[WriteResult]:
    if before is not None:
        await before  # its failure is this one's too: nothing after it is written
    return await writer.upsert_many(articles, publisher) if articles else []


def _abandon(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel what is still running; take the outcome of what is done, unread or not."""
    for task in tasks:
        if not task.done():
            task.cancel()
        elif not task.cancelled():
            task.exception()
