"""Feeds fixtures: the service served for real by uvicorn over each store backend.

One service per backend runs for the whole package (starting uvicorn per test would dominate
the run time), on a database of the session's Valkey; each test publishes under its own path
prefix, so tests never see each other's artifacts. Tests that need the whole namespace use
`fresh_feeds`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.feeds.app import create_app
from shared.settings import Settings
from shared.store import ArtifactStore, make_store
from shared.store.artifacts import Artifact, encode
from tests.conftest import Databases, database, live_server

_test_ids = itertools.count()
_FEED = "<?xml version='1.0' encoding='UTF-8'?><rss><channel><title>Dünya</title>{}</channel></rss>"


def feed_body(text: str = "") -> bytes:
    """A feed-like body long enough that compression pays."""
    return _FEED.format(f"<item><title>{text}</title></item>" * 30).encode()


@dataclass
class Raw:
    """A response as it came over the wire: body not decoded, whatever its Content-Encoding."""

    status: int
    headers: httpx.Headers
    body: bytes


class Feeds:
    """A running feeds service, the store it serves, and a client that never decodes.

    Paths given to `publish` and `get` are relative to `prefix`.
    """

    def __init__(
        self, url: str, store: ArtifactStore, client: httpx.Client, prefix: str = ""
    ) -> None:
        self.url = url
        self.store = store
        self.client = client
        self.prefix = prefix
        self._watermark = 0

    def publish(self, path: str, body: bytes, target: str | None = None) -> Artifact:
        self._watermark += 1
        artifact = encode(self.prefix + path, body, 5)
        target = ("t:" + self.prefix + (target or path)).replace("/", "_")
        assert self.store.publish(target, [artifact], f"{self._watermark}-0")
        return artifact

    def request(self, method: str, path: str, **headers: str) -> Raw:
        request = self.client.build_request(
            method,
            f"{self.url}/{self.prefix}{path.lstrip('/')}",
            headers={k.replace("_", "-"): v for k, v in headers.items()},
        )
        response = self.client.send(request, stream=True)
        try:
            return Raw(response.status_code, response.headers, b"".join(response.iter_raw()))
        finally:
            response.close()

    def get(self, path: str, **headers: str) -> Raw:
        return self.request("GET", path, **headers)


@pytest.fixture(scope="package")
def http_client() -> Iterator[httpx.Client]:
    """One client for the package: building one loads CA certificates, ~75 ms each time."""
    client = httpx.Client()
    # httpx would otherwise send its own Accept-Encoding and decompress bodies.
    del client.headers["accept-encoding"]
    yield client
    client.close()


@pytest.fixture(scope="package")
def feeds_settings(
    tmp_path_factory: pytest.TempPathFactory, databases: Databases
) -> Iterator[Settings]:
    with database(databases) as url:
        yield Settings(redis_url=url, artifact_dir=tmp_path_factory.mktemp("artifacts"))


@pytest.fixture(scope="package", params=["filesystem", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="package")
def service(feeds_settings: Settings, backend: str) -> Iterator[tuple[str, ArtifactStore]]:
    store = make_store(feeds_settings.model_copy(update={"store_backend": backend}))
    with live_server(create_app(feeds_settings, store)) as url:
        yield url, store
    store.close()


@pytest.fixture
def feeds(service: tuple[str, ArtifactStore], http_client: httpx.Client) -> Feeds:
    url, store = service
    return Feeds(url, store, http_client, prefix=f"t{next(_test_ids)}/")


@pytest.fixture
def fresh_settings(
    feeds_settings: Settings, backend: str, tmp_path: Path, redis_url: str
) -> Settings:
    """Settings for an empty store of `backend`: a new directory, or an empty database."""
    return feeds_settings.model_copy(
        update={"store_backend": backend, "redis_url": redis_url, "artifact_dir": tmp_path}
    )


@pytest.fixture
def fresh_feeds(fresh_settings: Settings, http_client: httpx.Client) -> Iterator[Feeds]:
    store = make_store(fresh_settings)
    with live_server(create_app(fresh_settings, store)) as url:
        yield Feeds(url, store, http_client)
    store.close()
