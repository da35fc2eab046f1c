"""The guarded fetcher: every outbound HTTP request to a URL we did not write goes through here.

Card images and WebSub callbacks are URLs supplied by publishers and subscribers, so a request
to one must not reach anything inside our network (SSRF). A `Fetcher` only speaks http and
https, resolves each host once, refuses the exchange if any answer is not globally routable
(unless `FetchPolicy.allow_networks` exempts it), connects to exactly the address it checked,
re-checks every redirect hop from scratch, and bounds the whole exchange by a wall-clock
deadline and the body by a byte cap.

    FetchError
    ├── FetchRefused   the URL or an address is not allowed; no connection was made
    └── FetchFailed    transport error, deadline, byte cap, too many redirects

Error messages are for logs; they may name internal addresses and are never shown to clients.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.client import HTTPException
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import HTTPError as Urllib3Error

from shared.net.addresses import IPAddress, IPNetwork, is_globally_routable, parse_numeric_host
from shared.net.transport import Deadline, PinnedAdapter, Target

if TYPE_CHECKING:
    from shared.settings import Settings

# host, port -> IP address strings; raises OSError (socket.gaierror) when the name has none.
Resolver = Callable[[str, int], list[str]]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")
_CHUNK = 64 * 1024
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")


class FetchError(Exception):
    """A fetch did not produce a response."""


class FetchRefused(FetchError):
    """The URL or an address it resolves to is not allowed; no connection was made."""


class FetchFailed(FetchError):
    """Transport error, deadline, byte cap or too many redirects."""


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for every exchange a `Fetcher` makes."""

    # Networks exempt from the "globally routable" rule (tests fetch from local servers).
    allow_networks: tuple[IPNetwork, ...] = ()
    deadline_s: float = 5.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 3
    user_agent: str = "Newswire/0.1 (news syndication; +https://github.com/newswire)"
    # CA bundle for https; None means requests' default (certifi).
    ca_bundle: str | None = None

    def __post_init__(self) -> None:
        if self.deadline_s <= 0 or self.max_bytes <= 0 or self.max_redirects < 0:
            raise ValueError("deadline_s and max_bytes must be positive, max_redirects >= 0")

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        """Build the policy from settings; a malformed CIDR raises ValueError at startup."""
        return cls(
            allow_networks=tuple(ipaddress.ip_network(c) for c in settings.fetch_allow_networks),
            deadline_s=settings.fetch_deadline_s,
            max_bytes=settings.fetch_max_bytes,
        )


@dataclass(frozen=True)
class FetchResult:
    url: str  # final URL after redirects
    status: int
    headers: Mapping[str, str]  # case-insensitive
    body: bytes


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve `host` with the system resolver; the default `Resolver`."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class _Outgoing:
    method: str
    url: str
    headers: Mapping[str, str]
    data: bytes | None


class Fetcher:
    """Makes guarded HTTP requests; safe to share between the threads of one process.

    Every hop gets its own connection to its checked address, so nothing is shared between
    requests or threads (and an address checked for one request never serves another).
    """

    def __init__(self, policy: FetchPolicy, resolver: Resolver | None = None) -> None:
        self._policy = policy
        self._resolver = resolver or system_resolver
        self._closed = False

    def close(self) -> None:
        """Refuse further requests (connections never outlive the request that made them)."""
        self._closed = True

    def get(self, url: str, **kwargs: Any) -> FetchResult:
        return self.request("GET", url, **kwargs)

    def post(
        self, url: str, data: bytes, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> FetchResult:
        return self.request("POST", url, data=data, headers=headers, **kwargs)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> FetchResult:
        """Make one exchange, following up to `max_redirects` redirects unless told not to.

        Non-2xx statuses are results (a 3xx too when `follow_redirects` is False).

        Raises:
            FetchRefused: a URL (the first or a redirect's) or an address is not allowed.
            FetchFailed: transport error, deadline, byte cap or too many redirects.
        """
        if self._closed:
            raise RuntimeError("Fetcher is closed")
        _check_scheme(url)  # before anything else, params included
        deadline = Deadline(self._policy.deadline_s)
        outgoing = _Outgoing(
            method.upper(),
            _with_params(url, params),
            {"User-Agent": self._policy.user_agent, **(headers or {})},
            data,
        )
        for _ in range(self._policy.max_redirects + 1):
            result = self._hop(outgoing, deadline, follow_redirects)
            if not follow_redirects:
                return result
            location = _redirect_location(result.url, result.status, result.headers)
            if location is None:
                return result
            outgoing = _redirected(outgoing, result, location)
        raise FetchFailed(f"more than {self._policy.max_redirects} redirects from {url}")

    def check(self, url: str) -> None:
        """Refuse `url` exactly as a request to it would be refused, without connecting.

        Raises:
            FetchRefused: the URL or an address of its host is not allowed.
            FetchFailed: the host does not resolve.
        """
        _check_scheme(url)
        prepared = _prepare(_Outgoing("GET", url, {}, None))
        self._check(prepared.url or "", Deadline(self._policy.deadline_s))

    def _hop(self, outgoing: _Outgoing, deadline: Deadline, follow: bool) -> FetchResult:
        prepared = _prepare(outgoing)
        target = self._check(prepared.url or "", deadline)
        prepared.headers["Host"] = target.host_header
        adapter = PinnedAdapter(target, deadline)
        response: requests.Response | None = None
        try:
            response = adapter.send(
                prepared,
                stream=True,
                timeout=deadline.remaining(),
                verify=self._policy.ca_bundle or True,
                proxies={},
            )
            url, status, headers = prepared.url or "", response.status_code, response.headers
            if follow and _redirect_location(url, status, headers) is not None:
                return FetchResult(url, status, headers, b"")  # the body of a hop is not needed
            return FetchResult(
                url, status, headers, self._read_body(response, outgoing.method, deadline)
            )
        except (requests.RequestException, Urllib3Error, HTTPException, OSError) as exc:
            if deadline.expired():
                raise FetchFailed(f"{target.host}: deadline of {deadline.seconds}s") from exc
            raise FetchFailed(f"{target.host} ({target.address}): {exc}") from exc
        finally:
            if response is not None:
                response.close()
            adapter.close()

    def _check(self, url: str, deadline: Deadline) -> Target:
        """Parse `url` and resolve its host once; refuse unless every address is allowed."""
        scheme, host, port, host_header = _parse_url(url)
        try:
            address = parse_numeric_host(host)
        except ValueError as exc:
            raise FetchRefused(str(exc)) from None
        if address is not None:
            addresses = [address]
        elif _HOST_NAME.fullmatch(host) and len(host) <= 254:
            addresses = self._resolve(host, port, deadline)
        else:
            raise FetchRefused(f"malformed host {host!r}")
        for candidate in addresses:
            if not self._allowed(candidate):
                raise FetchRefused(f"{host} is {candidate}, which is not globally routable")
        return Target(scheme, host, port, host_header, addresses[0])

    def _resolve(self, host: str, port: int, deadline: Deadline) -> list[IPAddress]:
        try:
            answers = self._resolver(host, port)
            deadline.remaining()  # the system resolver cannot be interrupted; check after
        except OSError as exc:
            raise FetchFailed(f"cannot resolve {host}: {exc}") from exc
        if not answers:
            raise FetchFailed(f"{host} resolves to no address")
        try:
            return [ipaddress.ip_address(answer) for answer in answers]
        except ValueError as exc:
            raise FetchRefused(f"{host}: resolver gave a malformed address: {exc}") from None

    def _allowed(self, address: IPAddress) -> bool:
        if any(address in net for net in self._policy.allow_networks):
            return True
        return is_globally_routable(address)

    def _read_body(self, response: requests.Response, method: str, deadline: Deadline) -> bytes:
        """Stream the body, failing as soon as it is over the cap or past the deadline."""
        cap = self._policy.max_bytes
        length = response.headers.get("Content-Length", "")
        if method != "HEAD" and length.isdigit() and int(length) > cap:
            raise FetchFailed(f"Content-Length {length} is over the cap of {cap} bytes")
        chunks: list[bytes] = []
        total = 0
        while True:
            deadline.remaining()
            # One byte past the cap is enough to know it is exceeded.
            chunk = response.raw.read(min(_CHUNK, cap - total + 1), decode_content=True)
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > cap:
                raise FetchFailed(f"body is over the cap of {cap} bytes")
            chunks.append(chunk)


def _check_scheme(url: str) -> None:
    try:
        scheme = urlsplit(url).scheme
    except ValueError as exc:
        raise FetchRefused(f"malformed URL: {exc}") from None
    if scheme not in _DEFAULT_PORTS:
        raise FetchRefused(f"scheme {scheme!r} is not allowed")


def _with_params(url: str, params: Mapping[str, str] | None) -> str:
    if not params:
        # Normalized and checked with the rest of the request (`_prepare`): preparing it
        # twice cost a tenth of a WebSub delivery's CPU.
        return url
    try:
        return requests.Request("GET", url, params=dict(params)).prepare().url or url
    except (requests.RequestException, ValueError) as exc:
        raise FetchRefused(f"malformed URL: {exc}") from None


def _prepare(outgoing: _Outgoing) -> requests.PreparedRequest:
    """requests' normalization (IDNA, percent-encoding); the result is what gets checked."""
    try:
        return requests.Request(
            outgoing.method, outgoing.url, headers=dict(outgoing.headers), data=outgoing.data
        ).prepare()
    except (requests.RequestException, ValueError) as exc:
        raise FetchRefused(f"malformed request: {exc}") from None


def _parse_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, Host header) of an http(s) URL without credentials."""
    _check_scheme(url)
    parts = urlsplit(url)
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise FetchRefused(f"malformed port in {url!r}") from None
    # Userinfo is where URL parsers disagree; no card image or callback needs it.
    if "@" in parts.netloc or not parts.hostname:
        raise FetchRefused(f"URL must have a host and no credentials: {url!r}")
    return parts.scheme, parts.hostname, port, parts.netloc


def _redirect_location(url: str, status: int, headers: Mapping[str, str]) -> str | None:
    """The absolute URL a redirect response points to, or None if it is not one."""
    location = headers.get("Location") if status in _REDIRECTS else None
    if location is None:
        return None
    # http.client decodes header bytes as latin-1; servers send UTF-8.
    with contextlib.suppress(UnicodeError):
        location = location.encode("latin-1").decode("utf-8")
    try:
        return urljoin(url, location).split("#", 1)[0]
    except ValueError:
        raise FetchRefused(f"malformed redirect to {location!r}") from None


def _redirected(outgoing: _Outgoing, result: FetchResult, location: str) -> _Outgoing:
    """The next hop, as browsers do it: 303 (and 301/302 after POST) become a bodiless GET."""
    method, data = outgoing.method, outgoing.data
    headers = dict(outgoing.headers)
    if (result.status == 303 and method != "HEAD") or (
        result.status in (301, 302) and method == "POST"
    ):
        method, data = "GET", None
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    if urlsplit(location)[:2] != urlsplit(outgoing.url)[:2]:  # scheme and host:port
        headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
    return _Outgoing(method, location, headers, data)
