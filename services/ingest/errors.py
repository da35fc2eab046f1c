"""The ingest API's errors: one tree, each class with its status, and one JSON shape.

ApiError
├── BadRequest            400  the body is not JSON of the expected shape
├── Unauthorized          401  no valid API key
├── Forbidden             403  the key lacks the scope
├── NotFound              404  no such article of the key's publisher (another's is no different)
├── RequestTimeout        408  the body did not arrive within the read timeout
├── Conflict              409  the id cannot be written with this key: another publisher's
├── Gone                  410  the article was retracted
├── PayloadTooLarge       413  the body is over the size limit
├── UnsupportedMediaType  415  a body not sent as `Content-Type: application/json`
├── InvalidArticle        422  a field is wrong (each named in `fields`)
├── TooManyRequests       429  the key is over its rate limit; retry after `Retry-After`
├── HeadersTooLarge       431  the request's headers are over the size limit
└── Unavailable           503  Redis cannot be reached, or is full; retry after `Retry-After`
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from redis import exceptions as redis_errors
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send


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


class Conflict(ApiError):
    status, code = 409, "conflict"


class Gone(ApiError):
    status, code = 410, "gone"


class RequestTimeout(ApiError):
    status, code = 408, "request_timeout"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class HeadersTooLarge(ApiError):
    status, code = 431, "headers_too_large"


class InvalidArticle(ApiError):
    status, code = 422, "invalid"


class TooManyRequests(ApiError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


class Unavailable(ApiError):
    status, code = 503, "unavailable"
    headers: ClassVar[dict[str, str]] = {"Retry-After": "1"}


_REDIS_TRANSIENT = (
    redis_errors.ConnectionError,  # BusyLoadingError too: a restarted Redis reading its AOF
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,
    redis_errors.TryAgainError,
    redis_errors.MasterDownError,
    # Full (maxmemory under noeviction): nothing was written, and a retry succeeds once the
    # operator makes room. Reads still answer.
    redis_errors.OutOfMemoryError,
)


def error_body(status: int, code: str, message: str, fields: list[dict[str, str]]) -> dict:
    return {"error": {"status": status, "code": code, "message": message, "fields": fields}}


class FieldError(BaseModel):
    field: str
    message: str


class ErrorDetail(BaseModel):
    status: int
    code: str
    message: str
    fields: list[FieldError]


class ErrorResponse(BaseModel):
    """The one error shape, for the OpenAPI document."""

    error: ErrorDetail


_DOCUMENTED = {
    400: "malformed JSON",
    401: "missing or unknown API key",
    403: "the key lacks the scope",
    404: "no such article of the key's publisher",
    408: "the body did not arrive within the read timeout",
    410: "the article was retracted",
    413: "the body is over the size limit",
    415: "the body is not sent as application/json",
    422: "a field is wrong; each is named in `fields`",
    429: "over the key's rate limit; retry after `Retry-After`",
    431: "the headers are over the size limit",
    503: "storage unavailable; retry after `Retry-After`",
}
# Every error a route can answer, for its OpenAPI document.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in _DOCUMENTED.items()
}
# What a PUT may answer besides: an id it cannot write (whose it is, it does not say).
CONFLICT_RESPONSE: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "the id cannot be written with this key"}
}


async def send_error(send: Send, error: ApiError) -> None:
    """Answer from ASGI middleware, before any handler ran; the connection then closes,
    since the rest of the request may never come or may not be worth reading."""
    body = orjson.dumps(error_body(error.status, error.code, error.message, error.fields))
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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

    async def _redis_down(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            error_body(503, Unavailable.code, "storage unavailable; retry shortly", []),
            status_code=503,
            headers=Unavailable.headers,
        )

    # Redis away, loading, failing over: worth a retry. Any other Redis error is a fault here,
    # answered 500 by shared.web.request_ids like every unexpected error.
    for transient in _REDIS_TRANSIENT:
        app.add_exception_handler(transient, _redis_down)
