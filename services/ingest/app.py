"""The ingest service: `create_app(settings)` builds the FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import redis.asyncio
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from services.ingest.articles_api import Validator, utc_now
from services.ingest.audited_writer import AuditedWriter
from services.ingest.auth import ApiKeys
from services.ingest.body_limit import BodyLimit
from services.ingest.content_type import JsonContentType
from services.ingest.errors import install_handlers
from services.ingest.header_limit import HeaderLimit
from services.ingest.keys_routes import router as keys_router
from services.ingest.rate_limit import RateLimiter
from services.ingest.read_timeout import BodyReadTimeout
from services.ingest.routes import router
from services.render.kinds import Registry
from shared.http_metrics import HttpMetrics, RequestMetrics
from shared.request_ids import RequestIds
from shared.settings import Settings


def create_app(settings: Settings, clock: Callable[[], datetime] = utc_now) -> FastAPI:
    """`clock` is what validation calls "now" (tests set it)."""
    client = redis.asyncio.Redis.from_url(
        settings.redis_url, socket_connect_timeout=1, socket_timeout=5
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await client.aclose()

    app = FastAPI(
        title="Newswire ingest",
        version="1",
        default_response_class=JSONResponse,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.api_keys = ApiKeys(client, settings.api_keys)
    app.state.rate_limiter = RateLimiter(
        client, settings.rate_limit_per_s, settings.rate_limit_burst
    )
    app.state.validator = Validator(settings, clock, settings.validation_threads)
    app.state.writer = AuditedWriter(client, settings, Registry.from_settings(settings).entries)
    install_handlers(app)
    app.include_router(router)
    app.include_router(keys_router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        await client.ping()
        return {"status": "ok"}

    batch_path = router.prefix + "/articles:batch"
    app.add_middleware(
        BodyLimit,
        limit_for=lambda path: (
            settings.max_batch_request_bytes if path == batch_path else settings.max_request_bytes
        ),
    )
    app.add_middleware(BodyReadTimeout, timeout_s=settings.body_read_timeout_s)
    app.add_middleware(
        JsonContentType, applies=lambda method, path: method == "PUT" or path == batch_path
    )
    app.add_middleware(HeaderLimit, limit=settings.max_header_bytes)
    # Outside the body limit and every handler, so each answer carries its request id and an
    # unexpected error still leaves in the one JSON shape; inside metrics, which count it.
    app.add_middleware(RequestIds)
    metrics = HttpMetrics()
    app.add_route("/metrics", metrics.endpoint, include_in_schema=False)
    app.add_middleware(RequestMetrics, metrics=metrics, routes=lambda: app.router.routes)
    return app
