"""ASGI middleware that refuses a request body not declared as JSON with 415, unread."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from services.ingest.errors import UnsupportedMediaType, send_error


class JsonContentType:
    """`Content-Type: application/json` (a UTF-8 charset parameter is fine) on the requests
    `applies(method, path)` selects."""

    def __init__(self, app: ASGIApp, applies: Callable[[str, str], bool]) -> None:
        self.app = app
        self.applies = applies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.applies(scope["method"], scope["path"]):
            declared = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
            if not _is_json(declared):
                shown = declared or "none"
                message = f"send the body as Content-Type: application/json (got {shown})"
                await send_error(send, UnsupportedMediaType(message))
                return
        await self.app(scope, receive, send)


def _is_json(content_type: str) -> bool:
    media, *params = (part.strip().lower() for part in content_type.split(";"))
    charsets = [p.partition("=")[2].strip('"') for p in params if p.startswith("charset=")]
    return media == "application/json" and all(c in ("utf-8", "utf8") for c in charsets)
