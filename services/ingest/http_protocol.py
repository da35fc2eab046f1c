"""uvicorn's httptools (llhttp) protocol with a bound on a request head still arriving.

llhttp parses in C and costs a fraction of h11 per request, but httptools keeps a header
that has not ended yet in a buffer of its own, whatever its size: a client that sends one
header forever would grow it without end. Here every chunk that arrives while a head is
still incomplete counts against `max_header_bytes`, and past it the request is answered 431
(in the API's error shape) and the connection closed, without waiting for the head to end.

The chunk in which a head begins is not counted, since it may end the previous request's
body too; so a head is refused at most one read buffer past the limit. A complete head
arrives at the app, whose guard counts every header exactly (services/ingest/guard.py).

A response's head and the first write of its body leave in one send: uvicorn writes them
separately, which for an API's small answers is a syscall and a TCP segment more per request
(on loopback each send cost about 6% of a PUT's CPU time). A write is held until the next one
or the event loop's next turn, whichever comes first, so nothing waits longer than that.

The limit is uvicorn's own option for this bound, `h11_max_incomplete_event_size` (named for
the h11 protocol, which applies it the same way): a server is started with
`http="services.ingest.http_protocol:BoundedHttpToolsProtocol"`, an import string, so that
each worker process resolves the class itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from services.ingest.errors import HeadersTooLarge, error_body

DEFAULT_MAX_HEADER_BYTES = 16 * 1024


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, config: Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.max_header_bytes = config.h11_max_incomplete_event_size or DEFAULT_MAX_HEADER_BYTES
        self._in_head = False  # between a request's first byte and the end of its head
        self._counting = False  # whether chunks now count against the limit
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._counting:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_header_bytes:
                self._refuse_head()
                return
        super().data_received(data)
        self._counting = self._in_head

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._counting, self._head_bytes = True, False, 0

    def on_headers_complete(self) -> None:
        self._in_head = self._counting = False
        super().on_headers_complete()
        # The cycle just made (started or queued) has not run yet: it writes through this.
        cycle = self.cycle
        if cycle is not None and not isinstance(cycle.transport, JoinedWrites):
            cycle.transport = JoinedWrites(self.transport, self.loop)  # type: ignore[assignment]

    def _refuse_head(self) -> None:
        error = HeadersTooLarge(f"request headers are over {self.max_header_bytes} bytes")
        body = orjson.dumps(error_body(error.status, error.code, error.message, []))
        head = (
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n"
        )
        self._counting = False
        self.transport.write(STATUS_LINE[error.status] + head + body)
        self.transport.close()


class JoinedWrites:
    """A transport whose writes made within one turn of the event loop leave as one."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._held is None:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._held += data

    def flush(self) -> None:
        if self._held is not None:
            data, self._held = self._held, None
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
