"""Superdesk HTTP Push routes: a destination's items and assets URLs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.ingest.errors import ERROR_RESPONSES, NotFound
from services.ingest.superdesk.push import SuperdeskPush
from services.ingest.superdesk.signature import HEADER

router = APIRouter(
    prefix="/v1/superdesk/{destination_id}",
    tags=["superdesk"],
    default_response_class=JSONResponse,
    responses=ERROR_RESPONSES,
)
# Superdesk's multipart body holds one file and a few fields.
_MAX_FILES, _MAX_FIELDS = 1, 8


def _push(request: Request) -> SuperdeskPush:
    return request.app.state.superdesk


@router.post("/items", status_code=201)
async def push_item(destination_id: str, request: Request) -> Any:
    body = await request.body()
    push = _push(request)
    destination = await push.destination(destination_id, body, request.headers.get(HEADER))
    status, answer = await push.receive_item(destination, body)
    return JSONResponse(answer, status_code=status)


@router.get("/assets/{media_id:path}")
async def asset_exists(destination_id: str, media_id: str, request: Request) -> Any:
    if not await _push(request).asset_exists(destination_id, media_id, request.headers.get(HEADER)):
        raise NotFound(f"no asset {media_id!r}: POST it to the assets URL")
    return {"media_id": media_id}


@router.post("/assets", status_code=201)
async def push_asset(destination_id: str, request: Request) -> Any:
    body = await request.body()  # the signature covers the raw multipart body
    push = _push(request)
    destination = await push.destination(destination_id, body, request.headers.get(HEADER))
    async with request.form(max_files=_MAX_FILES, max_fields=_MAX_FIELDS) as form:
        answer = await push.store_asset(destination, form.get("media_id"), form.get("media"))
    return JSONResponse(answer, status_code=201)
