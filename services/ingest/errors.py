"""The ingest API's errors: one tree, each class with its status, and one JSON shape.

ApiError
├── BadRequest            400  the body is not JSON of the expected shape
├── Unauthorized          401  no valid API key
├── Forbidden             403  the article belongs to another publisher
├── NotFound              404  no such article
├── Gone                  410  the article was retracted
├── PayloadTooLarge       413  the body is over the size limit
├── InvalidArticle        422  a field is wrong (each named in `fields`)
└── Unavailable           503  Redis cannot be reached; retry after `Retry-After`
"""

from __future__ import annotations

from typing import ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    headers: ClassVar[dict[str, str]] = {}

    def __init__(self, message: str, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or []


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Gone(ApiError):
    status, code = 410, "gone"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class InvalidArticle(ApiError):
    status, code = 422, "invalid"


class Unavailable(ApiError):
    status, code = 503, "unavailable"
    headers: ClassVar[dict[str, str]] = {"Retry-After": "1"}


def error_body(status: int, code: str, message: str, fields: list[dict[str, str]]) -> dict:
    return {"error": {"status": status, "code": code, "message": message, "fields": fields}}


def field_errors(exc: ValidationError | RequestValidationError, prefix: str = "") -> list[dict]:
    """Pydantic errors as `{"field": "authors.0.name", "message": ...}` entries."""
    out = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"] if part not in ("body",)]
        field = ".".join(loc) or "body"
        out.append({"field": prefix + field, "message": err["msg"]})
    return out


def install_handlers(app: FastAPI) -> None:
    """Every error, including framework and backend ones, leaves in the one JSON shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.status, exc.code, exc.message, exc.fields),
            status_code=exc.status,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = field_errors(exc)
        message = "invalid " + ", ".join(f["field"] for f in fields)
        return JSONResponse(error_body(422, "invalid", message, fields), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return JSONResponse(
            error_body(exc.status_code, code, str(exc.detail), []),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RedisError)
    async def _redis_down(_: Request, exc: RedisError) -> JSONResponse:
        message = f"storage unavailable ({type(exc).__name__}); retry shortly"
        return JSONResponse(
            error_body(503, Unavailable.code, message, []),
            status_code=503,
            headers=Unavailable.headers,
        )
