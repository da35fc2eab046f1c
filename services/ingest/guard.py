"""One ASGI middleware for every limit ingest puts on a request before a handler runs.

In the order they are checked:

1. headers over `max_header_bytes` (every name and value counted): 431;
2. a body not declared as one of the media types `json_only` gives the request (JSON ones:
   `application/json`, and `application/vnd.iptc.ninjs+json` where ninjs is taken; a UTF-8
   charset parameter is fine; none given: any body): 415, unread;
3. a declared Content-Length over the path's limit: 413, unread;
   (neither 2 nor 3 when no route of the path takes the method: the router answers 405)
4. while the body is read: 408 once it has not all arrived within `body_read_timeout_s` of
   the request's start (a client that sends half a body and stalls, or trickles it, would
   otherwise hold a connection and a handler for as long as it likes), and 413 as soon as
   the bytes that did arrive pass the limit (so a lying or absent Content-Length cannot
   help).

They were five middlewares, each wrapping `receive` and `send` again; one costs a fraction
of that per request, which at a thousand requests a second is a good part of a core.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.ingest.errors import (
    ApiError,
    HeadersTooLarge,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
    send_error,
)


class BodyRefused(Exception):
    """Raised from the wrapped `receive` to answer `error` instead of reading on."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_header_bytes: int,
        body_limit_for: Callable[[str], int],
        body_read_timeout_s: float,
        json_only: Callable[[str, str], tuple[str, ...]],
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.body_limit_for = body_limit_for
        self.timeout_s = body_read_timeout_s
        self.json_only = json_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        size = 0
        declared_type = b""
        declared_length: bytes | None = None
        for name, value in headers:
            size += len(name) + len(value) + 4
            if name == b"content-type":
                declared_type = value
            elif name == b"content-length":
                declared_length = value
        if size > self.max_header_bytes:
            message = f"request headers are over {self.max_header_bytes} bytes"
            await send_error(send, HeadersTooLarge(message))
            return
        path = scope["path"]
        accepted = self.json_only(scope["method"], path)
        if accepted and not _is_json(declared_type, accepted) and not _method_not_allowed(scope):
            shown = declared_type.decode("latin-1") or "none"
            wanted = " or ".join(accepted)
            message = f"send the body as Content-Type: {wanted} (got {shown})"
            await send_error(send, UnsupportedMediaType(message))
            return
        limit = self.body_limit_for(path)
        if (
            declared_length is not None
            and declared_length.isdigit()
            and int(declared_length) > limit
            and not _method_not_allowed(scope)
        ):
            await send_error(send, PayloadTooLarge(f"request body is over {limit} bytes"))
            return

        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        seen = 0
        body_done = False
        started = False

        async def guarded_receive() -> Message:
            nonlocal seen, body_done
            if body_done:  # waiting for a disconnect after the body is not reading it
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyRefused(_timed_out(self.timeout_s)) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyRefused(PayloadTooLarge(f"request body is over {limit} bytes"))
                body_done = not message.get("more_body", False)
            else:
                body_done = True
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if not started and message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except BodyRefused as refused:
            if not started:  # else part of an answer is out: the connection just ends
                await send_error(send, refused.error)


def _method_not_allowed(scope: Scope) -> bool:
    """Whether a route has the path but none the method: then the answer is the router's 405,
    whatever the body (asked only on the way to refusing a body, so it costs nothing else)."""
    router = getattr(scope.get("app"), "router", None)
    path_matched = False
    for route in getattr(router, "routes", ()):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return False
        path_matched = path_matched or match is Match.PARTIAL
    return path_matched


def _timed_out(timeout_s: float) -> RequestTimeout:
    return RequestTimeout(f"the request body did not arrive within {timeout_s:g} s")


def _is_json(content_type: bytes, accepted: tuple[str, ...]) -> bool:
    if content_type == b"application/json":  # nearly every client says just this
        return "application/json" in accepted
    media, *params = (part.strip().lower() for part in content_type.decode("latin-1").split(";"))
    charsets = [p.partition("=")[2].strip('"') for p in params if p.startswith("charset=")]
    return media in accepted and all(c in ("utf-8", "utf8") for c in charsets)
