"""ASGI middleware that answers 408 when a request body does not arrive in time."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.ingest.body_guard import BodyRefused, run_guarded
from services.ingest.errors import RequestTimeout


class BodyReadTimeout:
    """The whole body must arrive within `timeout_s` of the request's start: a client that
    sends half a body and stalls, or trickles it, would otherwise hold a connection and a
    handler for as long as it likes."""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        body_done = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:  # waiting for a disconnect after the body is not reading it
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                message = f"the request body did not arrive within {self.timeout_s:g} s"
                raise BodyRefused(RequestTimeout(message)) from None
            body_done = message["type"] != "http.request" or not message.get("more_body")
            return message

        await run_guarded(self.app, scope, timed_receive, send)
