"""ASGI middleware that refuses requests whose headers are over a size limit with 431."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from services.ingest.errors import HeadersTooLarge, send_error


class HeaderLimit:
    """Counts every header's name and value. The HTTP server bounds headers still arriving
    (see `services/ingest/__main__.py`); this bounds those that arrived in one piece."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if size > self.limit:
                message = f"request headers are over {self.limit} bytes"
                await send_error(send, HeadersTooLarge(message))
                return
        await self.app(scope, receive, send)
