"""The transport under the guarded fetcher: connections pinned to a checked address, and a
wall-clock deadline over every socket operation of an exchange."""

from __future__ import annotations

import io
import socket
import time
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from shared.net.addresses import IPAddress


class Deadline:
    """One wall-clock budget for a whole exchange, on the monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left; raises TimeoutError once none are."""
        left = self._at - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"deadline of {self.seconds}s exceeded")
        return left

    def expired(self) -> bool:
        return time.monotonic() >= self._at


@dataclass(frozen=True)
class Target:
    """A checked destination: where to connect, and what to call it (Host header, SNI)."""

    scheme: str
    host: str  # as in the URL, without brackets
    port: int
    host_header: str
    address: IPAddress


class DeadlineSocket:
    """A connected socket whose every send and receive gets only the time the deadline leaves.

    http.client reads the status line, headers and body through `makefile()`, in loops of
    `recv_into` calls that each restart a per-call timeout: a server dripping one byte a
    second would never trip one. Re-arming the timeout from the deadline before each call
    bounds the whole exchange. http.client sends with `sendall` and reads with `recv_into`
    only; everything else is delegated to the wrapped socket.
    """

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self._sock = sock
        self._deadline = deadline
        self._io_refs = 0  # makefile() readers still open, as socket.socket counts them
        self._closed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def _arm(self) -> None:
        self._sock.settimeout(self._deadline.remaining())

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._arm()
        return self._sock.recv_into(buffer, nbytes, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._arm()  # sendall's timeout covers the whole call
        self._sock.sendall(data, flags)

    def makefile(self, mode: str = "rb", buffering: int | None = None, **_: Any) -> io.IOBase:
        if mode != "rb":
            raise ValueError(f"unsupported makefile mode {mode!r}")
        self._io_refs += 1
        return io.BufferedReader(socket.SocketIO(self, "rb"))

    def _decref_socketios(self) -> None:
        # http.client closes the connection before reading a Connection: close body; like
        # socket.socket, keep the descriptor open until the reader is closed too.
        self._io_refs -= 1
        if self._closed and self._io_refs <= 0:
            self._sock.close()

    def close(self) -> None:
        self._closed = True
        if self._io_refs <= 0:
            self._sock.close()


class _PinnedConnectionMixin:
    """Connects to the checked address itself: no host name ever reaches getaddrinfo."""

    def __init__(self, *args: Any, pinned: IPAddress, deadline: Deadline, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._pinned = pinned
        self._deadline = deadline

    def _new_conn(self) -> socket.socket:
        family = socket.AF_INET6 if self._pinned.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self._deadline.remaining())
            sock.connect((str(self._pinned), self.port))
            # The TLS handshake that follows gets only what is left.
            sock.settimeout(self._deadline.remaining())
        except TimeoutError as exc:
            sock.close()
            raise ConnectTimeoutError(self, f"connect to {self._pinned}: {exc}") from exc
        except OSError as exc:
            sock.close()
            raise NewConnectionError(self, f"connect to {self._pinned}: {exc}") from exc
        return sock

    def connect(self) -> None:
        super().connect()
        self.sock = DeadlineSocket(self.sock, self._deadline)


class _PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class PinnedAdapter(HTTPAdapter):
    """A requests adapter for one hop: its only pool connects to the checked address.

    Host header and, for https, SNI and certificate checking use the host name from the URL.
    """

    def __init__(self, target: Target, deadline: Deadline) -> None:
        super().__init__(pool_connections=1, pool_maxsize=1)
        https = target.scheme == "https"
        pool_cls = HTTPSConnectionPool if https else HTTPConnectionPool
        extra = {"server_hostname": target.host} if https else {}
        self._pool = pool_cls(
            str(target.address), target.port, pinned=target.address, deadline=deadline, **extra
        )
        self._pool.ConnectionCls = _PinnedHTTPSConnection if https else _PinnedHTTPConnection

    def get_connection_with_tls_context(
        self, request: requests.PreparedRequest, verify: Any, proxies: Any = None, cert: Any = None
    ) -> HTTPConnectionPool:
        return self._pool

    def get_connection(self, url: str, proxies: Any = None) -> HTTPConnectionPool:
        return self._pool

    def close(self) -> None:
        self._pool.close()
        super().close()
