"""The feeds service: serves published artifacts from memory with HTTP caching; the WebSub hub."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from services.feeds.artifact_endpoint import ANY_PATH, ArtifactEndpoint
from services.feeds.websub_hub import HubError, make_hub, websub_endpoint
from shared.settings import Settings
from shared.store import ArtifactStore, make_store
from shared.store.artifacts import Artifact
from shared.store.metrics import cache_gauges
from shared.web.http_metrics import HttpMetrics, RequestMetrics
from shared.web.readiness import Readiness
from shared.web.request_ids import RequestIds
from shared.websub import SendTask

_READS = frozenset({"GET", "HEAD"})


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


async def _hub_error(_: Request, exc: HubError) -> Response:
    return _error(exc.status, exc.code, exc.message, exc.fields, exc.headers)


def robots_txt(settings: Settings) -> bytes:
    """robots.txt: everything may be crawled, and the sitemap index is named."""
    return f"User-agent: *\nAllow: /\nSitemap: {settings.sitemap_base}sitemap.xml\n".encode()


def create_app(
    settings: Settings, store: ArtifactStore | None = None, send_task: SendTask | None = None
) -> ASGIApp:
    """The feeds service; with `send_task` (which queues Celery tasks) it is a WebSub hub too."""
    # A request waits on Redis at most this long, then answers 503 with Retry-After.
    timeout_s = settings.redis_request_timeout_s
    store = store or make_store(
        settings, recheck_ms=settings.feeds_recheck_ms, redis_timeout_s=timeout_s
    )
    readiness = Readiness(
        _needs(settings, hub=send_task is not None), timeout_s, settings.readiness_interval_s
    )

    async def healthz(_: Request) -> Response:
        # Liveness only: serving goes on while Redis is away (from memory, or from disk), and
        # whether Redis answers is /readyz's to say.
        return JSONResponse({"status": "ok"})

    robots = Artifact("robots.txt", robots_txt(settings), modified=time.time())
    metrics = HttpMetrics()
    artifacts = ArtifactEndpoint(store, settings.feed_max_age, metrics, fixed=[robots])
    cache_gauges(store, metrics.registry)
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readiness.endpoint, methods=["GET"]),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
    ]
    closers: list[Callable[[], object]] = [store.close]
    if send_task is not None:
        client = redis.Redis.from_url(
            settings.redis_url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
        )
        hub = make_hub(settings, store, client, send_task)
        routes.append(Route("/websub", websub_endpoint(hub), methods=["POST"]))
        closers.append(client.close)
    own = frozenset(route.path for route in routes)
    # The artifact routes are declared for what they answer (other methods get a 405, and
    # metrics name their templates); their GETs and HEADs are sent past Starlette's routing
    # and its middleware (the endpoint does their work itself).
    artifact_routes = [Route(p, artifacts, methods=["GET", "HEAD"]) for p in ("/", ANY_PATH)]
    app = Starlette(
        routes=[*routes, *artifact_routes],
        exception_handlers={HubError: _hub_error},
        middleware=[Middleware(RequestIds)],
        lifespan=_closing(readiness, *closers),
    )
    rest = RequestMetrics(app, metrics=metrics, routes=lambda: app.routes)
    return ArtifactsFirst(artifacts, rest, own)


class ArtifactsFirst:
    """ASGI: a GET or HEAD of any path but the service's own goes straight to `artifacts`
    (most requests: they skip routing and middleware); everything else goes to `app`."""

    def __init__(self, artifacts: ASGIApp, app: ASGIApp, own: frozenset[str]) -> None:
        self.artifacts = artifacts
        self.app = app
        self.own = own

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _READS and scope["path"] not in self.own:
            await self.artifacts(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _needs(settings: Settings, *, hub: bool) -> dict[str, str]:
    """The Redis servers the service cannot do its work without, by the name /readyz reports
    each by: the store's, when artifacts live in Redis; the hub's subscriptions', and the
    broker it queues verifications on. A broker redis-py cannot ping (a Sentinel URL) is not
    checked."""
    needs = {}
    if settings.store_backend == "redis" or hub:
        needs["redis"] = settings.redis_url
    broker = settings.broker_url or settings.redis_url
    if hub and urlsplit(broker).scheme in ("redis", "rediss", "unix"):
        needs["broker"] = broker
    return needs


def _closing(readiness: Readiness, *closers: Callable[[], object]):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with readiness.probing():
            yield
        for close in closers:
            close()

    return lifespan
