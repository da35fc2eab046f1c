"""Fixtures: the session's Valkey and its numbered databases, settings pointing at one,
articles written the way ingest writes them, and whole stacks of processes.

One Valkey serves the session (one per xdist worker): each test, and each stack shared by a
module, gets a database of its own, emptied when handed out. Tests that stop or kill Redis
start a server of their own (`own_redis_server`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
import uvicorn

from devstack.redis_server import RedisServer, free_port
from devstack.stack import Stack
from devstack.stack import wait_until as stack_wait_until
from shared.article import Article
from shared.kinds.registry import Registry
from shared.settings import Settings
from shared.state.article_writer import ArticleWriter, WriteResult
from tests.module_groups import ModuleGroupScheduling

DATA = Path(__file__).parent / "data"
API_KEY = "test-key-newsroom"
OTHER_API_KEY = "test-key-other-newsroom"
SITE_PUBLISHER = "newsroom"  # API_KEY's: the site itself
API_KEYS = {
    hashlib.sha256(API_KEY.encode()).hexdigest(): SITE_PUBLISHER,
    hashlib.sha256(OTHER_API_KEY.encode()).hexdigest(): "other",
}


def load_corpus() -> list[dict[str, Any]]:
    lines = (DATA / "corpus" / "seed-site.ndjson").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture
def corpus() -> list[dict[str, Any]]:
    return load_corpus()


@pytest.fixture
def seed_article() -> dict[str, Any]:
    return json.loads((DATA / "corpus" / "seed-article.json").read_text())


# Enough numbered databases for every test and shared stack alive at once in one session.
DATABASES = 64


@pytest.fixture(scope="session")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The session's Valkey server; tests keep apart in its numbered databases."""
    server = RedisServer(tmp_path_factory.mktemp("valkey"), databases=DATABASES).start()
    yield server
    server.stop()


class Databases:
    """Hands out the session Valkey's numbered databases, each emptied as it is handed out."""

    def __init__(self, server: RedisServer) -> None:
        self._server = server
        self._free = list(range(server.databases))

    def take(self) -> str:
        """The URL of an empty database no one else holds.

        Raises:
            RuntimeError: every database is taken (raise DATABASES).
        """
        if not self._free:
            raise RuntimeError(f"all {self._server.databases} databases are taken")
        url = self._server.database_url(self._free.pop(0))
        client = redis.Redis.from_url(url)
        try:
            client.flushdb()
        finally:
            client.close()
        return url

    def give_back(self, url: str) -> None:
        self._free.append(int(url.rpartition("/")[2]))


@pytest.fixture(scope="session")
def databases(valkey: RedisServer) -> Databases:
    return Databases(valkey)


@contextmanager
def database(databases: Databases) -> Iterator[str]:
    url = databases.take()
    try:
        yield url
    finally:
        databases.give_back(url)


@pytest.fixture
def redis_url(databases: Databases) -> Iterator[str]:
    """An empty database of the session's Valkey, for this test alone."""
    with database(databases) as url:
        yield url


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test's own, which it may stop, kill and start again."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        redis_url=redis_url,
        artifact_dir=tmp_path / "artifacts",
        api_keys=API_KEYS,
        site_publisher=SITE_PUBLISHER,
        readiness_interval_s=0.1,  # /readyz notices a Redis outage within a tenth of a second
        debounce_window_ms=100,
        build_lease_ms=2000,
    )


def wait_until(
    check: Callable[[], Any], timeout: float, interval: float = 0.02, *, backoff: bool = True
) -> Any:
    """Poll `check` until it returns something truthy; fail the test after `timeout`."""
    try:
        return stack_wait_until(check, timeout, interval, backoff=backoff)
    except TimeoutError as exc:
        pytest.fail(str(exc))


def make_stack(
    root: Path, redis_url: str | None = None, *, compact: bool = True, **overrides: str
) -> Stack:
    """A stack with test keys and short leases, so crash recovery shows within seconds; on
    `redis_url` (a database of the session's Valkey), or on a server of its own.

    Compact by default: one worker for every queue and one ingest process, half the
    processes to start. `compact=False` runs the shape `make run` and compose run.
    """
    overrides = {
        "NEWSWIRE_BUILD_LEASE_MS": "3000",
        "NEWSWIRE_CLAIM_IDLE_MS": "2000",
        **overrides,
    }
    return Stack(root, API_KEYS, API_KEY, redis_url, compact=compact, **overrides).start()


@contextmanager
def running_stack(
    databases: Databases, root: Path, *, compact: bool = True, **overrides: str
) -> Iterator[Stack]:
    """A stack on a database of the session's Valkey, stopped on leaving."""
    with database(databases) as url:
        stack = make_stack(root, url, compact=compact, **overrides)
        try:
            yield stack
        finally:
            stack.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, databases: Databases) -> Iterator[Stack]:
    with running_stack(databases, tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture(scope="session")
def site_stack(tmp_path_factory: pytest.TempPathFactory, databases: Databases) -> Iterator[Stack]:
    """One stack for the end-to-end modules that only add articles of their own: they share
    it, each with its own ids, URLs and (where a test reads a whole output) titles or
    sections, and none breaks a process or takes anything down that another wrote.

    Every article gets a card (the sample corpus was published in January), and the test
    kind of tests/render/test_kinds.py is built beside the real ones.
    """
    with running_stack(
        databases,
        tmp_path_factory.mktemp("site"),
        NEWSWIRE_CARD_RECENT_DAYS="0",
        NEWSWIRE_EXTRA_KINDS='["tests.render.test_kinds:NoteKind"]',
    ) as running:
        yield running


def own_copy(article: dict[str, Any], owner: str, *, title: bool = False) -> dict[str, Any]:
    """`article` under an id and URL of `owner`'s (and its title too, if asked), so tests
    sharing a stack never write or read each other's."""
    copy = {**article, "id": f"{article['id']}-{owner}", "url": f"{article['url']}-{owner}"}
    if title:
        copy["title"] = f"{article['title']} ({owner})"
    return copy


@pytest.fixture
def write_many(settings: Settings) -> Callable[..., list[WriteResult]]:
    """Store articles (dicts) with their events, exactly as the ingest service does; `using`
    gives the writer other settings (e.g. smaller sitemap parts)."""

    def _write(
        raws: list[dict[str, Any]], publisher: str = "newsroom", using: Settings | None = None
    ) -> list[WriteResult]:
        chosen = using or settings
        articles = [Article.model_validate(r, context={"default_language": "tr"}) for r in raws]

        async def go() -> list[WriteResult]:
            client = redis.asyncio.Redis.from_url(chosen.redis_url)
            try:
                writer = ArticleWriter(client, chosen, Registry.from_settings(chosen).entries)
                return await writer.upsert_many(articles, publisher)
            finally:
                await client.aclose()

        return asyncio.run(go())

    return _write


@pytest.fixture
def write(write_many: Callable[..., list[WriteResult]]) -> Callable[..., WriteResult]:
    """Store one article (dict) with its event."""
    return lambda raw, publisher="newsroom", using=None: write_many([raw], publisher, using)[0]


@pytest.fixture
def retract(settings: Settings) -> Callable[[str], WriteResult]:
    def _retract(article_id: str) -> WriteResult:
        async def go() -> WriteResult:
            client = redis.asyncio.Redis.from_url(settings.redis_url)
            try:
                writer = ArticleWriter(client, settings, Registry.from_settings(settings).entries)
                return await writer.retract(article_id, "newsroom")
            finally:
                await client.aclose()

        return asyncio.run(go())

    return _retract


@pytest.fixture
def db(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, decode_responses=True)


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free port in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    stack_wait_until(lambda: server.started, timeout=10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        # Now and then (a few times a suite run) the server's loop takes 10 s longer to end,
        # its thread still inside the event loop; nothing after needs it to have ended
        # (every server has a port of its own, and the thread is a daemon), so the test
        # goes on without waiting those seconds out.
        thread.join(timeout=2)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> ModuleGroupScheduling:
    """Each module whole on one worker, the modules of a shared stack together."""
    return ModuleGroupScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules that start processes run first: they are the long ones, and one left to the
    end would keep the other workers idle."""
    starts: dict[Path, bool] = {}
    for item in items:
        starts[item.path] = starts.get(item.path, False) or bool(
            item.get_closest_marker("processes")
        )
    items.sort(key=lambda item: not starts[item.path])
