"""The ingest process's own connection limits, as `python -m services.ingest` sets them:
header size, body read timeout and keep-alive idle timeout."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator

import pytest

from tests.conftest import API_KEY, Databases, database
from tests.ingest.ingest_process import ingest_process

pytestmark = pytest.mark.processes


@pytest.fixture(scope="module")
def ingest(
    databases: Databases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int]]:
    """One ingest process for the module: no test here leaves it in a state another minds."""
    env = {"NEWSWIRE_BODY_READ_TIMEOUT_S": "1", "NEWSWIRE_KEEP_ALIVE_TIMEOUT_S": "1"}
    logs = tmp_path_factory.mktemp("logs")
    with database(databases) as redis_url, ingest_process(redis_url, logs, **env) as url:
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


def exchange(address: tuple[str, int], data: bytes, timeout: float = 10) -> tuple[bytes, float]:
    """Send `data`, read until the server closes; the answer and how long that took."""
    with socket.create_connection(address, timeout=timeout) as conn:
        started = time.monotonic()
        conn.sendall(data)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
        return answer, time.monotonic() - started


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_a_100_kb_header_is_refused(ingest):
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 100_000 + b"\r\n\r\n"
    answer, _ = exchange(ingest, request)
    assert status(answer) in (400, 431), answer[:200]


def test_a_header_trickled_past_the_limit_is_refused_without_waiting_for_its_end(ingest):
    # 64 KB of a header that never ends, in pieces: only a bounded server answers at all.
    with socket.create_connection(ingest, timeout=10) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ")
        try:
            for _ in range(16):
                conn.sendall(b"a" * 4096)
                time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused while still sending
        try:
            answer = conn.recv(65536)
        except ConnectionResetError:
            return  # closed on it before its answer could be read: refused as well
    assert status(answer) == 431, answer
    error = json.loads(answer.partition(b"\r\n\r\n")[2])["error"]
    assert (error["status"], error["code"]) == (431, "headers_too_large")


def test_a_head_under_the_limit_may_arrive_in_many_pieces(ingest):
    # 15 KB of headers, a kilobyte at a time: only what a head holds counts against 16 KB.
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-Padding-%d: %s\r\n" % (i, b"a" * 1000) for i in range(15)
    )
    with socket.create_connection(ingest, timeout=10) as conn:
        for start in range(0, len(head), 1024):
            conn.sendall(head[start : start + 1024])
            time.sleep(0.005)
        conn.sendall(b"\r\n")
        assert status(conn.recv(65536)) == 200


def test_a_large_body_does_not_count_against_the_next_requests_head(ingest):
    # Pipelined: a 100 KB body, then the next request's head, split mid-head. The body's
    # bytes arrive while no head is incomplete; only the second head's count.
    body = json.dumps({"title": "x" * 100_000}).encode()
    first = (
        b"PUT /v1/articles/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (API_KEY.encode(), len(body))
    ) + body
    second = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with socket.create_connection(ingest, timeout=10) as conn:
        conn.sendall(first + second[:20])
        time.sleep(0.2)
        conn.sendall(second[20:])
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", answer) == [b"422", b"200"], answer


def test_a_stalled_body_is_408_in_the_error_shape(ingest):
    body = json.dumps({"id": "a", "title": "x" * 1000}).encode()
    head = (
        "PUT /v1/articles/a HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    answer, elapsed = exchange(ingest, head + body[:100], timeout=30)
    assert status(answer) == 408
    # Never before the 1 s timeout; after it, however loaded the machine, well within 10×.
    assert 1.0 <= elapsed < 10 * 1.0, elapsed
    error = json.loads(answer.partition(b"\r\n\r\n")[2])["error"]
    assert (error["status"], error["code"]) == (408, "request_timeout")


def test_an_idle_keep_alive_connection_is_closed(ingest):
    answer, elapsed = exchange(ingest, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", timeout=30)
    assert status(answer) == 200
    # Answered, then closed once idle for the 1 s timeout: never before it, well within 10×.
    assert 1.0 <= elapsed < 10 * 1.0, elapsed
