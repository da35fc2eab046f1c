"""A WebSub subscriber for the benchmarks: what a reader subscribed through the hub receives.

It listens on 127.0.0.2 (the stack is told to allow that one private address, as the WebSub
tests do), subscribes a callback per feed, answers the hub's verification of intent, and
hands every pushed feed body, with the moment it arrived, to `on_push`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

HOST = "127.0.0.2"
# What the stack needs so that the hub verifies and pushes to this subscriber at once.
STACK_ENV = {
    "NEWSWIRE_FETCH_ALLOW_NETWORKS": f'["{HOST}/32"]',
    "NEWSWIRE_WEBSUB_SUBSCRIBE_PER_MINUTE": "10000",
    "NEWSWIRE_WEBSUB_PENDING_PER_HOST": "100",
}

OnPush = Callable[[str, bytes, float], None]  # callback path, body, time.monotonic() of arrival


class _Handler(BaseHTTPRequestHandler):
    server: PushSubscriber
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # verification of intent: echo the challenge
        url = urlsplit(self.path)
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        self.server.verified(url.path, query.get("hub.mode", ""))
        self._answer(query.get("hub.challenge", "").encode())

    def do_POST(self) -> None:  # content distribution
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        arrived = time.monotonic()
        self._answer(b"")
        self.server.on_push(self.path, body, arrived)

    def _answer(self, body: bytes) -> None:
        self.send_response(200 if body else 204)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class PushSubscriber(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, on_push: OnPush) -> None:
        super().__init__((HOST, 0), _Handler)
        self.on_push = on_push
        self._verified: set[str] = set()
        self._lock = threading.Lock()

    def start(self) -> PushSubscriber:
        threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.server_address[1]}{path}"

    def verified(self, path: str, mode: str) -> None:
        if mode == "subscribe":
            with self._lock:
                self._verified.add(path)

    def subscribe(self, feeds_url: str, topics: dict[str, str], timeout: float = 30) -> set[str]:
        """Subscribe callback path → topic path for each of `topics`; the paths verified
        within `timeout`."""
        for path, topic in topics.items():
            fields = {
                "hub.mode": "subscribe",
                "hub.topic": f"{feeds_url}/{topic}",
                "hub.callback": self.url(path),
                "hub.lease_seconds": "3600",
            }
            requests.post(f"{feeds_url}/websub", data=fields, timeout=10)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._verified >= set(topics):
                    break
            time.sleep(0.05)
        with self._lock:
            return set(self._verified)
