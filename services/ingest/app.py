"""The ingest service: `create_app(settings)` builds the FastAPI application."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from services.ingest.audited_writer import AuditedWriter
from services.ingest.auth import ApiKeys
from services.ingest.body_validation import Validator, utc_now
from services.ingest.errors import install_handlers
from services.ingest.guard import RequestGuard
from services.ingest.keys_routes import router as keys_router
from services.ingest.names_routes import router as names_router
from services.ingest.newsml_g2.routes import router as newsml_g2_router
from services.ingest.ninjs_routes import NINJS_PATH, NINJS_TYPES
from services.ingest.ninjs_routes import router as ninjs_router
from services.ingest.rate_limit import RateLimiter
from services.ingest.redis_packing import redis_client
from services.ingest.routes import router
from services.ingest.superdesk.push import SuperdeskPush
from services.ingest.superdesk.routes import router as superdesk_router
from shared.kinds.registry import Registry
from shared.log_format import configure_logging
from shared.settings import Settings
from shared.state.display_names import AsyncAdminNames
from shared.web.http_metrics import HttpMetrics, RequestMetrics
from shared.web.readiness import Readiness
from shared.web.request_ids import RequestIds

JSON_ONLY = ("application/json",)


def create_app(settings: Settings, clock: Callable[[], datetime] = utc_now) -> FastAPI:
    """`clock` is what validation calls "now" (tests set it)."""
    # Every route waits on Redis at most this long, then answers 503 with Retry-After.
    timeout_s = settings.redis_request_timeout_s
    client = redis_client(
        settings.redis_url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
    )
    readiness = Readiness({"redis": settings.redis_url}, timeout_s, settings.readiness_interval_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with readiness.probing():
            yield
        await client.aclose()

    app = FastAPI(
        title="Newswire ingest",
        version="1",
        default_response_class=JSONResponse,
        lifespan=lifespan,
        # Metrics are Prometheus's (/metrics); FastAPI's own OpenTelemetry hooks would only
        # ask, on every request, whether a provider was configured.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.api_keys = ApiKeys(client, settings.api_keys)
    app.state.rate_limiter = RateLimiter(
        client, settings.rate_limit_per_s, settings.rate_limit_burst
    )
    app.state.validator = Validator(settings, clock, settings.validation_threads)
    app.state.writer = AuditedWriter(client, settings, Registry.from_settings(settings).entries)
    app.state.names = AsyncAdminNames(client, settings)
    app.state.superdesk = SuperdeskPush(client, settings, app.state.writer)
    install_handlers(app)
    app.include_router(ninjs_router)  # first: its PUT takes only bodies sent as ninjs
    app.include_router(router)
    app.include_router(keys_router)
    app.include_router(names_router)
    app.include_router(superdesk_router)
    app.include_router(newsml_g2_router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        # Liveness only: whether Redis answers is /readyz's to say (restarts cure no outage).
        return {"status": "ok"}

    app.add_route("/readyz", readiness.endpoint, methods=["GET"], include_in_schema=False)

    batch_path = router.prefix + "/articles:batch"
    app.add_middleware(
        RequestGuard,
        max_header_bytes=settings.max_header_bytes,
        body_limit_for=lambda path: (
            settings.max_batch_request_bytes
            if path == batch_path
            # A pushed image, and its multipart framing.
            else settings.superdesk_max_asset_bytes + 64 * 1024
            if path.startswith("/v1/superdesk/") and path.endswith("/assets")
            else settings.max_request_bytes
        ),
        body_read_timeout_s=settings.body_read_timeout_s,
        json_only=lambda method, path: (
            NINJS_TYPES
            if path == NINJS_PATH or (method == "PUT" and path.startswith("/v1/articles/"))
            else JSON_ONLY
            if method == "PUT" or path == batch_path
            else ()
        ),
    )
    # Outside the guard and every handler, so each answer carries its request id and an
    # unexpected error still leaves in the one JSON shape; inside metrics, which count it.
    app.add_middleware(RequestIds)
    metrics = HttpMetrics()
    app.add_route("/metrics", _metrics_endpoint(metrics), include_in_schema=False)
    app.add_middleware(RequestMetrics, metrics=metrics, routes=lambda: app.router.routes)
    return app


def from_environment() -> FastAPI:
    """The app as `python -m services.ingest` serves it, made in each worker process."""
    # Large bodies are validated on a thread; a shorter switch interval than the default 5 ms
    # bounds how long the event loop waits for the GIL behind one, so light requests stay fast.
    sys.setswitchinterval(0.001)
    settings = Settings()
    configure_logging(settings)  # a worker process's own root: warnings and hooks too
    return create_app(settings)


def _metrics_endpoint(metrics: HttpMetrics) -> Callable[[Request], Awaitable[Response]]:
    """/metrics: this process's registry, or with several worker processes (Prometheus's
    multiprocess mode, `PROMETHEUS_MULTIPROC_DIR`) every worker's counts summed. Process
    metrics (CPU, memory) are per process and left out then."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return metrics.endpoint
    registry = CollectorRegistry()
    MultiProcessCollector(registry)

    async def endpoint(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return endpoint
