"""The feeds service: serves published artifacts from memory with HTTP caching; the WebSub hub."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import redis
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.feeds.redis_health import RedisHealth
from services.feeds.responses import artifact_response
from services.feeds.websub_hub import Hub, HubError, websub_endpoint
from shared.artifacts import Artifact
from shared.http_metrics import HttpMetrics, RequestMetrics
from shared.request_ids import RequestIds
from shared.settings import Settings
from shared.store import ArtifactStore, StoreUnavailable, make_store
from shared.store_metrics import cache_gauges
from shared.websub import SendTask, Subscriptions

_RETRY_SOON = {"Retry-After": "1"}


def _error(
    status: int,
    code: str,
    message: str,
    fields: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    # The ingest API's error shape, so clients parse one format from both services.
    body = {"error": {"status": status, "code": code, "message": message, "fields": fields or []}}
    return JSONResponse(body, status_code=status, headers=headers)


def _lookup(store: ArtifactStore, path: str) -> tuple[Artifact | None, bool]:
    """The artifact at `path`, else whether it is gone; may wait on the network."""
    found = store.get(path)
    return found, found is None and store.gone(path)


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
    redis_health = RedisHealth(settings.redis_url)

    async def healthz(_: Request) -> Response:
        # Serving goes on while Redis is away (from memory, or from disk): say so, not fail.
        return JSONResponse({"status": "ok", "redis": redis_health.state})

    robots = Artifact("robots.txt", robots_txt(settings), modified=time.time())

    async def artifact(request: Request) -> Response:
        path = request.path_params.get("path") or "index.html"
        found = robots if path == robots.path else store.cached(path)
        if found is None:
            # Off the event loop: Redis may be slow, down or hung, and the loop serves the rest.
            try:
                found, gone = await run_in_threadpool(_lookup, store, path)
            except StoreUnavailable:
                return _error(503, "unavailable", "try again shortly", headers=_RETRY_SOON)
            if gone:
                return _error(410, "gone", "this was taken down")
            if found is None:
                return _error(404, "not_found", "no such file")
        head = request.method == "HEAD"
        return artifact_response(found, request.headers, head, settings.feed_max_age)

    metrics = HttpMetrics()
    cache_gauges(store, metrics.registry)
    routes = [
        Route("/", artifact, methods=["GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
    ]
    closers: list[Callable[[], object]] = [store.close]
    if send_task is not None:
        client = redis.Redis.from_url(settings.redis_url)
        hub = Hub(settings, store, Subscriptions(client, settings), send_task)
        routes.append(Route("/websub", websub_endpoint(hub), methods=["POST"]))
        closers.append(client.close)
    counted = Middleware(RequestMetrics, metrics=metrics, routes=lambda: app.routes)
    app = Starlette(
        routes=[*routes, Route("/{path:path}", artifact, methods=["GET", "HEAD"])],
        exception_handlers={HubError: _hub_error},
        middleware=[counted, Middleware(RequestIds)],
        lifespan=_closing(redis_health, *closers),
    )
    return app


def _closing(redis_health: RedisHealth, *closers: Callable[[], object]):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with redis_health.running():
            yield
        for close in closers:
            close()

    return lifespan
