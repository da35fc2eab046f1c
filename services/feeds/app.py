"""The feeds service: serves published artifacts from memory with HTTP caching; the WebSub hub."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.feeds.responses import artifact_response
from services.feeds.websub_hub import Hub, HubError, websub_endpoint
from shared.artifacts import Artifact
from shared.settings import Settings
from shared.store import ArtifactStore, make_store
from shared.websub import SendTask, Subscriptions


def _error(
    status: int, code: str, message: str, fields: list[dict[str, str]] | None = None
) -> JSONResponse:
    # The ingest API's error shape, so clients parse one format from both services.
    body = {"error": {"status": status, "code": code, "message": message, "fields": fields or []}}
    return JSONResponse(body, status_code=status)


async def _hub_error(_: Request, exc: HubError) -> Response:
    return _error(exc.status, exc.code, exc.message, exc.fields)


def robots_txt(settings: Settings) -> bytes:
    """robots.txt: everything may be crawled, and the sitemap index is named."""
    return f"User-agent: *\nAllow: /\nSitemap: {settings.sitemap_base}sitemap.xml\n".encode()


def create_app(
    settings: Settings, store: ArtifactStore | None = None, send_task: SendTask | None = None
) -> Starlette:
    """The feeds service; with `send_task` (which queues Celery tasks) it is a WebSub hub too."""
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

    routes = [
        Route("/", artifact, methods=["GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    closers: list[Callable[[], object]] = [store.close]
    if send_task is not None:
        client = redis.Redis.from_url(settings.redis_url)
        hub = Hub(settings, store, Subscriptions(client, settings), send_task)
        routes.append(Route("/websub", websub_endpoint(hub), methods=["POST"]))
        closers.append(client.close)
    return Starlette(
        routes=[*routes, Route("/{path:path}", artifact, methods=["GET", "HEAD"])],
        exception_handlers={HubError: _hub_error},
        lifespan=_closing(*closers),
    )


def _closing(*closers: Callable[[], object]):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        for close in closers:
            close()

    return lifespan
