"""ninjs in: `POST /v1/ninjs`, and `PUT /v1/articles/{id}` sent as ninjs. Both go through
the same writer, keys and answers as a PUT of our own JSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.routing import Match
from starlette.types import Scope

from services.ingest.auth import documented
from services.ingest.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from services.ingest.ninjs import NINJS_MEDIA_TYPE
from services.ingest.ninjs.writing import write_ninjs
from services.ingest.routes import (
    _ARTICLE_ID_PARAMETER,
    DirectRoute,
    _authorize,
    _path_id,
    _respond,
    _writer,
)
from shared.log_format import bind_log_context

NINJS_PATH = "/v1/ninjs"
# The media types a ninjs body may be sent as.
NINJS_TYPES = (NINJS_MEDIA_TYPE, "application/json")
router = APIRouter(default_response_class=JSONResponse, responses=ERROR_RESPONSES)
_NINJS_BODY = {
    "required": True,
    "content": {
        media: {"schema": {"type": "object", "description": "a ninjs 1.x, 2.x or 3.x document"}}
        for media in NINJS_TYPES
    },
}


class NinjsPutRoute(DirectRoute):
    """`PUT /v1/articles/{id}` when the body is declared as ninjs; any other PUT falls
    through to the article route, so its hot path is left as it is."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.NONE or not _declared_ninjs(scope):
            return Match.NONE, {}
        return match, child


def _declared_ninjs(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.decode("latin-1").split(";", 1)[0].strip().lower()
            return media == NINJS_MEDIA_TYPE
    return False


async def _write(request: Request, path_id: str | None) -> JSONResponse:
    caller = await _authorize(request)
    result = await write_ninjs(
        await request.body(),
        caller.publisher,
        request.app.state.validator,
        _writer(request),
        path_id,
    )
    bind_log_context(article_id=result.id)  # on the request's line, as a PUT's
    return _respond(result)


async def post_ninjs(request: Request) -> Any:
    return await _write(request, None)


async def put_ninjs(request: Request) -> Any:
    return await _write(request, _path_id(request))


router.add_api_route(
    NINJS_PATH,
    post_ninjs,
    methods=["POST"],
    route_class_override=DirectRoute,
    summary="Write one ninjs document",
    description="A ninjs 1.x, 2.x or 3.x document, checked against the IPTC schema and "
    "mapped to an article whose id comes from its `uri`; `pubstatus` canceled or withheld "
    "retracts it.",
    openapi_extra=documented(requestBody=_NINJS_BODY),
    responses={201: {"description": "created: the article's first revision"}, **CONFLICT_RESPONSE},
)
# The same operation as the article PUT in the OpenAPI document, which names its JSON body.
router.add_api_route(
    "/v1/articles/{article_id}",
    put_ninjs,
    methods=["PUT"],
    route_class_override=NinjsPutRoute,
    include_in_schema=False,
    openapi_extra=documented(_ARTICLE_ID_PARAMETER),
)
