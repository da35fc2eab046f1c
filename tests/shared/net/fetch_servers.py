"""Real local HTTP(S) servers and a scripted resolver for the guarded fetcher's tests."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


class RecordingResolver:
    """Host → successive answers (the last one repeats); records every lookup it gets."""

    def __init__(self, answers: dict[str, list[str]] | None = None) -> None:
        self._answers = {host: [ips] for host, ips in (answers or {}).items()}
        self.calls: list[tuple[str, int]] = []

    def answer(self, host: str, *answers: list[str]) -> None:
        self._answers[host] = list(answers)

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self._answers:
            raise socket.gaierror(socket.EAI_NONAME, f"unknown test host {host}")
        answers = self._answers[host]
        return answers.pop(0) if len(answers) > 1 else answers[0]


class _Handler(BaseHTTPRequestHandler):
    server: LocalServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self.server.count_request()
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        route = getattr(self, "route_" + url.path.strip("/").split("/")[0], self.route_echo)
        route(url.path, query)

    do_POST = do_PUT = do_HEAD = do_GET

    def _send(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def route_echo(self, path: str, query: dict[str, str]) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        echo = {
            "server": self.server.name,
            "method": self.command,
            "path": self.path,
            "headers": dict(self.headers.items()),
            "body": self.rfile.read(length).decode("utf-8", "replace"),
            "sni": getattr(self.connection, "sni", None),
        }
        self._send(200, json.dumps(echo).encode(), Content_Type="application/json")

    def route_redirect(self, path: str, query: dict[str, str]) -> None:
        self._send(int(query.get("status", "302")), b"moved", Location=query["to"])

    def route_chain(self, path: str, query: dict[str, str]) -> None:
        left = int(path.rsplit("/", 1)[1])
        if left == 0:
            self._send(200, b"end of chain")
        else:
            self._send(302, b"", Location=f"/chain/{left - 1}")

    def route_endless(self, path: str, query: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Connection", "close")  # no length: the body ends when we stop
        self.end_headers()
        self._trickle(b"x" * 16384, pause=0)

    def route_drip(self, path: str, query: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self._trickle(b"x", pause=1.0)

    def route_dripheaders(self, path: str, query: dict[str, str]) -> None:
        self.close_connection = True
        self._trickle(b"X", pause=0.25, prefix=b"HTTP/1.1 200 OK\r\nX-Slow: ")

    def route_files(self, path: str, query: dict[str, str]) -> None:
        """Bytes put in `server.files[path]`, with their content type."""
        body, content_type = self.server.files.get(path, (b"not here", "text/plain"))
        self._send(200 if path in self.server.files else 404, body, Content_Type=content_type)

    def route_status(self, path: str, query: dict[str, str]) -> None:
        self._send(int(path.rsplit("/", 1)[1]), b"as asked")

    def route_huge(self, path: str, query: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(10**12))
        self.end_headers()
        self._trickle(b"x" * 1024, pause=0.05)

    def _trickle(self, chunk: bytes, pause: float, prefix: bytes = b"") -> None:
        """Write `chunk` every `pause` seconds until the client goes away or the server stops."""
        self.close_connection = True
        with suppress(OSError):
            self.wfile.write(prefix)
            while not self.server.stopping.is_set():
                self.wfile.write(chunk)
                self.wfile.flush()
                self.server.stopping.wait(pause)


class LocalServer(ThreadingHTTPServer):
    """A threaded HTTP server that counts the connections and requests it receives."""

    daemon_threads = True
    request_queue_size = 64  # the default 5 drops connections when threads fetch at once
    block_on_close = False

    def __init__(self, name: str, host: str, port: int, tls: ssl.SSLContext | None = None):
        self.name = name
        self.stopping = threading.Event()
        self.connections = 0
        self.requests = 0
        self.files: dict[str, tuple[bytes, str]] = {}  # served under /files/
        self._lock = threading.Lock()
        self._tls = tls
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)
        self.port = self.server_address[1]

    def verify_request(self, request: object, client_address: object) -> bool:
        with self._lock:
            self.connections += 1
        return True

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def get_request(self) -> tuple[socket.socket, object]:
        sock, address = super().get_request()
        if self._tls is None:
            return sock, address
        sock.settimeout(5)
        tls_sock = self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return tls_sock, address

    def finish_request(self, request: socket.socket, client_address: object) -> None:
        if isinstance(request, ssl.SSLSocket):
            try:
                request.do_handshake()  # in the handler thread, so a bad client blocks nobody
            except (OSError, ssl.SSLError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: object, client_address: object) -> None:
        # The fetcher under test hangs up on purpose (size caps, timeouts): not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def reset(self) -> None:
        with self._lock:
            self.connections = self.requests = 0

    def start(self) -> LocalServer:
        threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


def start_pair(public_host: str, forbidden_host: str) -> tuple[LocalServer, LocalServer]:
    """A public and a forbidden server on the same port, so a misdirected connection shows."""
    for _ in range(20):
        public = LocalServer("public", public_host, 0)
        try:
            forbidden = LocalServer("forbidden", forbidden_host, public.port)
        except OSError:  # that port is taken on the other address; try another
            public.server_close()
            continue
        return public.start(), forbidden.start()
    raise RuntimeError("no port free on both addresses")


def start_on_port(name: str, host: str, port: int) -> LocalServer | None:
    """A server on `host:port`, or None if that address cannot be bound (no IPv6)."""
    try:
        return LocalServer(name, host, port).start()
    except OSError:
        return None


@contextmanager
def tls_server(directory: Path, host: str, name: str) -> Iterator[tuple[LocalServer, Path]]:
    """An https server on `host` with a certificate for `name`; yields it and the CA file."""
    ca_file, cert_file, key_file = _make_certificates(directory, name)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)

    def remember_sni(sock: ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext) -> None:
        sock.sni = server_name  # type: ignore[attr-defined]

    context.sni_callback = remember_sni
    server = LocalServer("tls", host, 0, tls=context).start()
    try:
        yield server, ca_file
    finally:
        server.stop()


def _make_certificates(directory: Path, name: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for `name` it signed, made with openssl."""

    def openssl(command: str) -> None:
        args = ["openssl", *command.split()]
        subprocess.run(args, cwd=directory, check=True, capture_output=True)

    key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    openssl(
        f"req -x509 {key} -days 2 -keyout ca.key -out ca.pem -subj /CN=newswire-test-ca"
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
    )
    openssl(f"req {key} -keyout server.key -out server.csr -subj /CN={name}")
    (directory / "server.ext").write_text(
        f"subjectAltName=DNS:{name}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    openssl(
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2"
        " -out server.pem -extfile server.ext"
    )
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"
