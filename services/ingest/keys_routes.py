"""Operator routes (admin scope): the API keys ingest accepts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from services.ingest.auth import authorized, documented
from shared.api_keys import ADMIN, ApiKey

router = APIRouter(prefix="/v1")
Admin = Annotated[ApiKey, Depends(authorized(ADMIN))]


@router.get("/keys", openapi_extra=documented())
async def list_keys(request: Request, _: Admin) -> dict[str, Any]:
    """Every key (configured, then Redis's, oldest first) with its publisher and scopes."""
    return {"keys": [key.public() for key in await request.app.state.api_keys.every_key()]}
