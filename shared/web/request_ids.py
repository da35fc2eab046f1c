"""Request ids, and the one JSON answer for an error nothing else handled (both services).

Every response carries `X-Request-Id`: the client's own when it is sane, so one id follows a
request through a proxy and both services' logs, else a new one. An exception that no
handler took is logged with its traceback and that id, and answered 500 in the one error
shape; the client learns the id, never the exception's text or where it happened.
"""

from __future__ import annotations

import json
import logging
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.log_format import bind_log_context, reset_log_context
from shared.process_names import ProcessNames

# X-Request-Id as ASGI servers hand header names over: lowercased.
REQUEST_ID = b"x-request-id"
# Ids other systems make (UUIDs, trace ids, base64 tokens); anything else could forge log
# lines or carry a header injection, and is replaced.
_SANE = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")

log = logging.getLogger("newswire.requests")


# New ids: 16 hex digits of this process's tag and 16 of its count (32, as a UUID's).
_IDS = ProcessNames(8)


def request_id_for(header: bytes | None) -> str:
    """The client's id if it is sane, else a new one (32 hex digits)."""
    if header is not None:
        sent = header.decode("latin-1")
        if _SANE.fullmatch(sent):
            return sent
    return f"{_IDS.tag}{_IDS.next():016x}"


class RequestIds:
    """ASGI middleware: give each HTTP request an id, and answer what escapes the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((value for name, value in scope["headers"] if name == REQUEST_ID), None)
        request_id = request_id_for(sent)
        header = (REQUEST_ID, request_id.encode())
        started = False
        context = bind_log_context(request_id=request_id)  # on every line this request logs

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            await answer_escaped(scope, send, request_id, response_started=started)
        finally:
            reset_log_context(context)


async def answer_escaped(
    scope: Scope, send: Send, request_id: str, *, response_started: bool
) -> None:
    """Called while handling an exception that escaped the app: log it, and answer 500 in
    the one error shape, or re-raise it if part of the response is already out (all that is
    left then is to drop the connection)."""
    log_escaped(scope, request_id)
    if response_started:
        raise  # the exception the caller is handling
    await internal_error(send, request_id)


def log_escaped(scope: Scope, request_id: str) -> None:
    """Log the exception being handled, with its traceback and the request's id."""
    log.exception(
        "unexpected error answering %s %s (request id %s)",
        scope.get("method"),
        scope.get("path"),
        request_id,
    )


async def internal_error(send: Send, request_id: str) -> None:
    """Answer 500 in the one error shape, quoting the request's id."""
    message = f"unexpected error; quote request id {request_id} when reporting it"
    body = json.dumps(
        {"error": {"status": 500, "code": "internal_error", "message": message, "fields": []}}
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (REQUEST_ID, request_id.encode()),
    ]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})
