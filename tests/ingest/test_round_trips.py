"""What ingest does to spend fewer round trips and syscalls per article, and what it keeps:
upserts made together share one pipeline yet each gets its own result (or its own error);
commands packed by hiredis are the bytes redis-py would send; a response leaves in one write
without ever holding back an interim `100 Continue`."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError

from devstack.redis_server import RedisServer
from services.ingest.audited_writer import AuditedWriter
from services.ingest.redis_packing import redis_client
from shared.article import Article
from shared.kinds.registry import Registry
from shared.settings import Settings
from shared.state.article_writer import WriteResult
from tests.conftest import API_KEY, Databases, database
from tests.ingest.ingest_process import ingest_process


def article(seed: dict[str, Any], article_id: str, title: str) -> Article:
    raw = {**seed, "id": article_id, "title": title, "related": []}
    return Article.model_validate(raw, context={"default_language": "tr"})


def connected_clients(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.info("clients")["connected_clients"])
    finally:
        client.close()


def test_upserts_made_together_share_one_connection_and_each_gets_its_own_result(
    settings: Settings, seed_article: dict[str, Any]
) -> None:
    ids = [f"together-{n}" for n in range(20)]

    async def go() -> tuple[list[WriteResult], list[WriteResult], int]:
        client = redis_client(settings.redis_url)
        writer = AuditedWriter(client, settings, Registry.from_settings(settings).entries)
        try:
            before = connected_clients(settings.redis_url)
            first = await asyncio.gather(
                *(writer.upsert(article(seed_article, i, f"Başlık {i}"), "newsroom") for i in ids)
            )
            opened = connected_clients(settings.redis_url) - before
            # Once more, with every other one changed and one written twice in the same turn.
            again = [
                article(seed_article, i, f"Başlık {i}" + (" (güncel)" if n % 2 else ""))
                for n, i in enumerate(ids)
            ]
            second = await asyncio.gather(
                *(writer.upsert(a, "newsroom") for a in again),
                writer.upsert(again[1], "other"),
            )
            return first, second, opened
        finally:
            await client.aclose()

    first, second, opened = asyncio.run(go())
    # Twenty writes one at a time would have opened twenty connections.
    assert opened == 1
    assert [(r.id, r.status, r.revision) for r in first] == [(i, "created", 1) for i in ids]
    assert [(r.id, r.status) for r in second] == [
        *((i, "updated" if n % 2 else "unchanged") for n, i in enumerate(ids)),
        (ids[1], "forbidden"),
    ]
    assert [r.revision for r in second[:4]] == [1, 2, 1, 2]


def test_when_redis_fails_every_upsert_of_the_flush_fails_with_it(
    own_redis_server: RedisServer, tmp_path: Path, seed_article: dict[str, Any]
) -> None:
    url = own_redis_server.database_url(0)
    settings = Settings(redis_url=url, artifact_dir=tmp_path / "a", redis_request_timeout_s=0.5)

    async def go() -> list[Any]:
        client = redis_client(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        writer = AuditedWriter(client, settings, Registry.from_settings(settings).entries)
        try:
            written = await writer.upsert(article(seed_article, "before", "Önce"), "newsroom")
            assert written.status == "created"
            own_redis_server.stop()
            return await asyncio.gather(
                *(writer.upsert(article(seed_article, f"f{n}", "Düşen"), "p") for n in range(5)),
                return_exceptions=True,
            )
        finally:
            await client.aclose()

    outcomes = asyncio.run(go())
    assert len(outcomes) == 5
    assert all(isinstance(o, (RedisConnectionError, OSError)) for o in outcomes), outcomes


COMMANDS: list[tuple[Any, ...]] = [
    ("SET", "k", "İstanbul'da kar: ğüşıöç Â"),
    ("EVALSHA", "a" * 40, 2, "nw:article:x", "nw:events", 1_768_723_320_000, -3, 0.1, 1 / 3),
    ("SCRIPT EXISTS", "a" * 40, b"b" * 40),
    (b"CLIENT SETNAME", b"ingest"),
    ("ZADD", "z", 1e16, memoryview(b"member")),
    ("SET", "k", bytearray(b"left to redis-py")),
]


@pytest.mark.parametrize("command", COMMANDS)
def test_hiredis_packs_the_bytes_redis_py_would(command: tuple[Any, ...]) -> None:
    packed = redis_client("redis://127.0.0.1:1").connection_pool.connection_class()
    assert b"".join(packed.pack_command(*command)) == b"".join(Connection().pack_command(*command))


@pytest.mark.parametrize("value", [True, None, [1]])
def test_values_redis_py_refuses_stay_refused(value: Any) -> None:
    packed = redis_client("redis://127.0.0.1:1").connection_pool.connection_class()
    with pytest.raises(DataError):
        packed.pack_command("SET", "k", value)


def test_the_packed_client_talks_to_redis(redis_url: str) -> None:
    async def go() -> list[Any]:
        client = redis_client(redis_url)
        try:
            pipe = client.pipeline(transaction=False)
            pipe.set("name", "Dışişleri İstanbul")
            pipe.zadd("scores", {"a": 0.1, "b": 1e16})
            pipe.get("name")
            pipe.zscore("scores", "a")
            return await pipe.execute()
        finally:
            await client.aclose()

    assert asyncio.run(go())[2:] == ["Dışişleri İstanbul".encode(), 0.1]


@pytest.fixture(scope="module")
def ingest(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("logs")
    with database(databases) as redis_url, ingest_process(redis_url, logs) as url:
        yield url


@pytest.mark.processes
def test_an_interim_100_continue_is_not_held_back(
    ingest: str, seed_article: dict[str, Any]
) -> None:
    host, port = ingest.removeprefix("http://").split(":")
    body = json.dumps({**seed_article, "id": "continued", "related": []}).encode()
    head = (
        f"PUT /v1/articles/continued HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head)
        # The client sends its body only once told to continue: a held write would stall here.
        interim = conn.recv(65536)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.sendall(body)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            assert chunk, answer
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 201 Created"
    headers, _, content = rest.partition(b"\r\n\r\n")
    assert b"x-request-id: " in headers
    assert json.loads(content) == {"id": "continued", "status": "created", "revision": 1}
