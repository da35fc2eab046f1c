"""The WebSub hub endpoint (`POST /websub`): checks a (un)subscription and queues its verification.

The form is checked here; the subscriber's intent is verified later by a render worker
(services/render/websub/delivery.py), which is when a subscription starts or ends. A callback
must be http(s) on a globally routable address, by the same rules the guarded fetcher applies
when it later calls it (checked here too, so a bad callback is refused at once, by name).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast
from urllib.parse import parse_qsl

import redis
from kombu.exceptions import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shared.net.fetcher import Fetcher, FetchFailed, FetchPolicy, FetchRefused
from shared.settings import Settings
from shared.store import ArtifactStore
from shared.websub import (
    QUEUE,
    VERIFY_TASK,
    Intent,
    Mode,
    SendTask,
    Subscriptions,
    topic_path,
)

log = logging.getLogger(__name__)

_FORM = "application/x-www-form-urlencoded"
# A real request is a few hundred bytes: two URLs, a secret under 200 bytes, a number.
_MAX_FORM_BYTES = 16 * 1024


class HubError(Exception):
    """A request the hub refuses: its status, error code, the form field at fault, and any
    headers the answer carries."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields = [{"field": field, "message": message}] if field else []
        self.headers = headers or {}


def _invalid(field: str, message: str) -> HubError:
    return HubError(422, "invalid", f"{field} {message}", field)


@dataclass(frozen=True)
class HubRequest:
    mode: Mode
    topic: str
    callback: str
    lease_seconds: int | None
    secret: str | None


class Hub:
    """Accepts checked requests: refuses foreign topics and unsafe callbacks, queues the rest."""

    def __init__(
        self,
        settings: Settings,
        store: ArtifactStore,
        subscriptions: Subscriptions,
        send_task: SendTask,
        fetcher: Fetcher | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._subscriptions = subscriptions
        self._send_task = send_task
        self._fetcher = fetcher or Fetcher(FetchPolicy.from_settings(settings))

    def accept(self, request: HubRequest) -> Intent:
        """Store the request as an intent and queue its verification; blocks (DNS, Redis).

        Raises:
            HubError: the topic is not a feed we serve, the callback is refused, or Redis or
                the broker cannot be reached.
        """
        path = topic_path(self._settings, request.topic)
        if path is None:
            raise _invalid("hub.topic", "is not a feed of this hub")
        check_callback(request.callback, self._fetcher)
        try:
            if request.mode == "subscribe" and self._store.get(path) is None:
                raise _invalid("hub.topic", "is a feed this hub does not publish (yet)")
            intent = self._subscriptions.request(
                request.mode, request.topic, request.callback, request.lease_seconds, request.secret
            )
            self._send_task(VERIFY_TASK, args=[intent.id], queue=QUEUE)
        except (redis.RedisError, OperationalError) as exc:
            # The cause may name internal addresses: it goes to the log, not to the client.
            log.error("websub hub: cannot queue a request: %s", exc)
            raise HubError(
                503,
                "unavailable",
                "the hub cannot take requests now; retry shortly",
                headers={"Retry-After": "1"},
            ) from exc
        return intent


def check_callback(url: str, fetcher: Fetcher) -> None:
    """Refuse a callback the fetcher would refuse to call: not http(s), credentials in it, a
    host that does not resolve, or an address that is not globally routable.

    Raises:
        HubError: naming `hub.callback`.
    """
    try:
        fetcher.check(url)
    except FetchRefused:
        raise _invalid("hub.callback", "must be a public http(s) URL") from None
    except FetchFailed:
        raise _invalid("hub.callback", "has a host that does not resolve") from None


def parse_form(body: bytes) -> HubRequest:
    """The hub request in a form body. An empty optional field counts as absent.

    Raises:
        HubError: the body is not a UTF-8 form, or a field is missing, repeated or wrong.
    """
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, errors="strict", max_num_fields=32)
    except ValueError:  # UnicodeDecodeError included
        raise HubError(400, "bad_request", "the body must be a UTF-8 form") from None
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)

    def field(name: str, required: bool = False) -> str | None:
        values = form.get(name, [])
        if len(values) > 1:
            raise _invalid(name, "is given more than once")
        if required and not (values and values[0]):
            raise _invalid(name, "is required")
        return values[0] if values and values[0] else None

    mode = field("hub.mode", required=True)
    if mode not in ("subscribe", "unsubscribe"):
        raise _invalid("hub.mode", "must be subscribe or unsubscribe")
    topic, callback = field("hub.topic", required=True), field("hub.callback", required=True)
    lease, secret = field("hub.lease_seconds"), field("hub.secret")
    if lease is not None and not (lease.isascii() and lease.isdigit() and 0 < int(lease) < 2**31):
        raise _invalid("hub.lease_seconds", "must be a positive whole number of seconds")
    if secret is not None and len(secret.encode()) >= 200:
        raise _invalid("hub.secret", "must be less than 200 bytes")
    leased = int(lease) if lease else None
    return HubRequest(cast(Mode, mode), cast(str, topic), cast(str, callback), leased, secret)


async def read_form(request: Request) -> bytes:
    """The request body, if it is a form of a sane size.

    Raises:
        HubError: another content type (415), or a body over the cap (413).
    """
    if request.headers.get("content-type", "").partition(";")[0].strip().lower() != _FORM:
        raise HubError(415, "unsupported_media_type", f"send the request as {_FORM}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            raise HubError(
                413, "payload_too_large", f"a hub request is under {_MAX_FORM_BYTES} bytes"
            )
    return bytes(body)


def websub_endpoint(hub: Hub) -> Callable[[Request], Awaitable[Response]]:
    """`POST /websub`: 202 once the request is queued for verification; HubError otherwise."""

    async def websub(request: Request) -> Response:
        hub_request = parse_form(await read_form(request))
        await run_in_threadpool(hub.accept, hub_request)  # DNS and Redis block
        return Response(status_code=202)

    return websub
