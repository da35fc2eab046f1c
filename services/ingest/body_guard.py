"""Refusing a request while its body is read: the shared part of the body middlewares."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.ingest.errors import ApiError, send_error


class BodyRefused(Exception):
    """Raised from a wrapped `receive` to answer `error` instead of reading on."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


async def run_guarded(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run `app` with a `receive` that may raise BodyRefused; answer the refusal in the error
    shape, unless the app already started a response (then the connection just ends)."""
    started = False

    async def tracking_send(message: Message) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, receive, tracking_send)
    except BodyRefused as refused:
        if not started:
            await send_error(send, refused.error)
