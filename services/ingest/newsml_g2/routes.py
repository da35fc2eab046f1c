"""`POST /v1/newsml-g2`: a NewsML-G2 newsItem or newsMessage, as XML.

The XML parser (lxml) is loaded on the first such request, not with the app: most ingest
processes never see XML, and each of them would carry it."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.ingest.auth import documented
from services.ingest.errors import ERROR_RESPONSES, UnsupportedMediaType
from services.ingest.routes import Caller

MEDIA_TYPES = frozenset(
    {
        "application/vnd.iptc.g2.newsitem+xml",
        "application/vnd.iptc.g2.newsmessage+xml",
        "application/xml",
    }
)
# The shared error table, but said of XML documents (and no article is read or gone here).
_ERRORS = {status: r for status, r in ERROR_RESPONSES.items() if status not in (404, 410)}
_ERRORS |= {
    status: {**ERROR_RESPONSES[status], "description": description}
    for status, description in (
        (
            400,
            "not safe, well-formed XML (a DOCTYPE, an entity, nested too deep), "
            "not a newsItem or newsMessage, or no text item in it; nothing is stored",
        ),
        (415, "not sent as " + ", ".join(sorted(MEDIA_TYPES))),
        (422, "a text item is wrong; each field is named `items.N.field`; nothing is stored"),
    )
}
router = APIRouter(prefix="/v1", default_response_class=JSONResponse, responses=_ERRORS)

_BODY = {
    "required": True,
    "content": {
        media: {"schema": {"type": "string", "description": "a newsItem or newsMessage"}}
        for media in sorted(MEDIA_TYPES)
    },
}


@router.post(
    "/newsml-g2",
    openapi_extra=documented(requestBody=_BODY),
    responses={
        200: {
            "description": '`{"results": [...]}`, one per text item in document order '
            "(`id`, `guid`, `status`, `revision`): none created"
        },
        201: {"description": "as 200, and at least one text item was created"},
    },
)
async def post_newsml_g2(request: Request, caller: Caller) -> Any:
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"send NewsML-G2 as Content-Type {', '.join(sorted(MEDIA_TYPES))}, not {media!r}"
        )
    from services.ingest.newsml_g2 import ingest  # loads lxml: see the module's docstring

    body = await request.body()
    settings, now = request.app.state.settings, request.app.state.validator.clock()
    # Parsing and sanitizing a 2 MiB document takes a while: off the event loop, on as many
    # threads at once as validation uses (a flood of documents queues rather than crowds).
    prepared = await anyio.to_thread.run_sync(
        lambda: ingest.prepare(body, settings, now), limiter=_limiter(request)
    )
    results = await ingest.store(prepared, request.app.state.writer, caller.publisher)
    status = 201 if ingest.created_any(results) else 200
    return JSONResponse({"results": results}, status_code=status)


def _limiter(request: Request) -> anyio.CapacityLimiter:
    state = request.app.state
    if getattr(state, "newsml_g2_limiter", None) is None:  # made on first use, on its loop
        state.newsml_g2_limiter = anyio.CapacityLimiter(state.settings.validation_threads)
    return state.newsml_g2_limiter
