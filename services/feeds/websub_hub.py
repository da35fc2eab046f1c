"""The WebSub hub endpoint (`POST /websub`): checks a (un)subscription and queues its verification.

The form is checked here; the subscriber's intent is verified later by a render worker
(services/render/websub/delivery.py), which is when a subscription starts or ends. A callback
must be http(s) on a globally routable address, by the same rules the guarded fetcher applies
when it later calls it (checked here too, so a bad callback is refused at once, by name), on
port 80, 443 or 1024 and up.

Every verification is a request the hub makes to a URL a stranger chose, so the hub is not
left open as a reflector (shared/websub_limits.py, counted in Redis for every feeds process):

1. with `websub_require_key`, a request needs a key that may write articles (else 401);
2. a client address may make `websub_subscribe_per_minute` requests in any 60 s (else 429);
3. a callback host may have `websub_pending_per_host` verifications pending or running, and
   the deployment `websub_verify_queue_max` (else 429).

A 429 carries Retry-After: the seconds until the client's window lets it in, or until a slot
frees at the latest (most free sooner: a verification takes about as long as the callback
takes to answer). Free checks (the form, the topic, the callback's port) come before the
count; a callback's DNS lookup and everything after it come after.

The client address is the connection's peer (`request.client`). Granian, the default server,
reports the TCP peer and reads no forwarding header, so a client cannot claim another address.
Uvicorn (`NEWSWIRE_FEEDS_SERVER=uvicorn`, run with proxy headers on) takes the address from
X-Forwarded-For when the peer is one it trusts (uvicorn's FORWARDED_ALLOW_IPS, by default
127.0.0.1 and ::1). Behind a proxy, serve with uvicorn, set FORWARDED_ALLOW_IPS to the proxy's
address, and have the proxy set X-Forwarded-For to the address it got the connection from
(nginx: `proxy_set_header X-Forwarded-For $remote_addr;`); otherwise every client counts as
the proxy and shares its window.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast
from urllib.parse import parse_qsl

import redis
from kombu.exceptions import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from services.feeds.hub_keys import HubKeys, KeyRefused
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
    callback_port_allowed,
    topic_path,
)
from shared.websub_limits import ClientWindow, Full, VerifySlots, callback_host

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


def _too_many(message: str, retry_after_s: int) -> HubError:
    return HubError(
        429,
        "rate_limited",
        f"{message}; retry after {retry_after_s} s",
        headers={"Retry-After": str(retry_after_s)},
    )


@contextmanager
def _unavailable_on_outage() -> Iterator[None]:
    """Redis or the broker away: 503 with Retry-After."""
    try:
        yield
    except (redis.RedisError, OperationalError) as exc:
        # The cause may name internal addresses: it goes to the log, not to the client.
        log.error("websub hub: cannot take a request: %s", exc)
        raise HubError(
            503,
            "unavailable",
            "the hub cannot take requests now; retry shortly",
            headers={"Retry-After": "1"},
        ) from exc


@dataclass(frozen=True)
class HubRequest:
    mode: Mode
    topic: str
    callback: str
    lease_seconds: int | None
    secret: str | None


@dataclass(frozen=True)
class Caller:
    """Who sent a hub request: the connection's peer address and its Authorization header."""

    address: str
    authorization: str | None = None


class Hub:
    """Accepts checked requests within the limits: refuses foreign topics, unsafe callbacks and
    clients over a limit, queues the rest."""

    def __init__(
        self,
        settings: Settings,
        store: ArtifactStore,
        subscriptions: Subscriptions,
        send_task: SendTask,
        window: ClientWindow,
        slots: VerifySlots,
        keys: HubKeys | None = None,
        fetcher: Fetcher | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._subscriptions = subscriptions
        self._send_task = send_task
        self._window = window
        self._slots = slots
        self._keys = keys
        self._fetcher = fetcher or Fetcher(FetchPolicy.from_settings(settings))

    def handle(self, caller: Caller, body: bytes) -> Intent:
        """Check a request body from `caller` and accept it; blocks (DNS, Redis, the broker).

        Raises:
            HubError: a missing or refused key (401), a malformed form (400, 422), a client or
                callback over a limit (429), a refused topic or callback (422), or Redis or
                the broker unreachable (503).
        """
        if self._keys is not None:
            try:
                with _unavailable_on_outage():
                    self._keys.check(caller.authorization)
            except KeyRefused as exc:
                raise HubError(
                    401, "unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"}
                ) from None
        return self.accept(parse_form(body), caller.address)

    def accept(self, request: HubRequest, address: str) -> Intent:
        """Store the request of the client at `address` as an intent and queue its
        verification; blocks (DNS, Redis, the broker).

        Raises:
            HubError: see `handle`.
        """
        path = topic_path(self._settings, request.topic)
        if path is None:
            raise _invalid("hub.topic", "is not a feed of this hub")
        if not callback_port_allowed(request.callback):
            raise _invalid("hub.callback", "must be on port 80, 443 or 1024 and up")
        with _unavailable_on_outage():
            wait_s = self._window.take(address)
            if wait_s:
                raise _too_many(
                    f"over the hub's limit of {self._window.limit} requests a minute from one "
                    "client",
                    wait_s,
                )
            check_callback(request.callback, self._fetcher)
            if request.mode == "subscribe" and self._store.get(path) is None:
                raise _invalid("hub.topic", "is a feed this hub does not publish (yet)")
            intent = self._subscriptions.new_intent(
                request.mode, request.topic, request.callback, request.lease_seconds, request.secret
            )
            full = self._slots.reserve(intent.id, intent.callback)
            if full is not None:
                raise self._full(full, intent.callback)
            try:
                self._subscriptions.store(intent)
                self._send_task(VERIFY_TASK, args=[intent.id], queue=QUEUE)
            except (redis.RedisError, OperationalError):
                self._free(intent)
                raise
        return intent

    def _full(self, full: Full, callback: str) -> HubError:
        if full.scope == "host":
            return _too_many(
                f"{callback_host(callback)} has {self._slots.per_host} verifications of intent "
                "pending, the hub's limit for one callback host",
                full.retry_after_s,
            )
        return _too_many(
            f"the hub has {self._slots.overall} verifications of intent pending, its limit",
            full.retry_after_s,
        )

    def _free(self, intent: Intent) -> None:
        """Give back the slot of an intent that was never queued (best effort: else it expires)."""
        try:
            self._subscriptions.discard(intent)
        except redis.RedisError as exc:
            log.warning("websub hub: slot of intent %s left to expire: %s", intent.id, exc)


def make_hub(
    settings: Settings, store: ArtifactStore, client: redis.Redis, send_task: SendTask
) -> Hub:
    """The hub of the feeds service, its subscriptions and limits in Redis at `client`."""
    return Hub(
        settings,
        store,
        Subscriptions(client, settings),
        send_task,
        ClientWindow(client, settings.websub_subscribe_per_minute),
        VerifySlots.from_settings(client, settings),
        HubKeys(client, settings.api_keys) if settings.websub_require_key else None,
    )


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


def client_address(request: Request) -> str:
    """The address a client counts under: the connection's peer, as the server reports it
    (see the module's docstring for proxies); empty if the server reports none."""
    return request.client.host if request.client else ""


def websub_endpoint(hub: Hub) -> Callable[[Request], Awaitable[Response]]:
    """`POST /websub`: 202 once the request is queued for verification; HubError otherwise."""

    async def websub(request: Request) -> Response:
        body = await read_form(request)
        caller = Caller(client_address(request), request.headers.get("authorization"))
        await run_in_threadpool(hub.handle, caller, body)  # DNS, Redis and the broker block
        return Response(status_code=202)

    return websub
