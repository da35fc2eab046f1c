"""The feeds service: serves published artifacts from memory with HTTP caching."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.feeds.index_page import render_index
from services.feeds.responses import artifact_response
from shared.settings import Settings
from shared.store import ArtifactStore, make_store

# The ingest API's error shape, so clients parse one format from both services.
_NOT_FOUND = {
    "error": {"status": 404, "code": "not_found", "message": "no such feed", "fields": []}
}


def create_app(settings: Settings, store: ArtifactStore | None = None) -> Starlette:
    store = store or make_store(settings)

    async def index(_: Request) -> Response:
        html = render_index(store.paths("feeds/"), settings)
        return Response(html, media_type="text/html; charset=utf-8")

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def artifact(request: Request) -> Response:
        found = store.get(request.path_params["path"])
        if found is None:
            return JSONResponse(_NOT_FOUND, status_code=404)
        head = request.method == "HEAD"
        return artifact_response(found, request.headers, head, settings.feed_max_age)

    return Starlette(
        routes=[
            Route("/", index, methods=["GET", "HEAD"]),
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
