"""The feeds service: serves published artifacts from memory with HTTP caching."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.feeds.responses import artifact_response
from shared.artifacts import Artifact
from shared.settings import Settings
from shared.store import ArtifactStore, make_store


def _error(status: int, code: str, message: str) -> JSONResponse:
    # The ingest API's error shape, so clients parse one format from both services.
    body = {"error": {"status": status, "code": code, "message": message, "fields": []}}
    return JSONResponse(body, status_code=status)


def robots_txt(settings: Settings) -> bytes:
    """robots.txt: everything may be crawled, and the sitemap index is named."""
    return f"User-agent: *\nAllow: /\nSitemap: {settings.sitemap_base}sitemap.xml\n".encode()


def create_app(settings: Settings, store: ArtifactStore | None = None) -> Starlette:
    store = store or make_store(settings)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    robots = Artifact("robots.txt", robots_txt(settings), modified=time.time())

    async def artifact(request: Request) -> Response:
        path = request.path_params.get("path") or "index.html"
        found = robots if path == robots.path else store.get(path)
        if found is None:
            if store.gone(path):
                return _error(410, "gone", "this was taken down")
            return _error(404, "not_found", "no such file")
        head = request.method == "HEAD"
        return artifact_response(found, request.headers, head, settings.feed_max_age)

    return Starlette(
        routes=[
            Route("/", artifact, methods=["GET", "HEAD"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/{path:path}", artifact, methods=["GET", "HEAD"]),
        ],
        lifespan=_closing(store),
    )


def _closing(store: ArtifactStore):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        store.close()

    return lifespan
