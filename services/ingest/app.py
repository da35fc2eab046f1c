"""The ingest service: `create_app(settings)` builds the FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from services.ingest.auth import ApiKeys
from services.ingest.body_limit import BodyLimit
from services.ingest.errors import install_handlers
from services.ingest.routes import router
from services.render.kinds import Registry
from shared.articles import ArticleWriter
from shared.settings import Settings


def create_app(settings: Settings) -> FastAPI:
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
    app.state.api_keys = ApiKeys(settings.api_keys)
    app.state.writer = ArticleWriter(client, settings, Registry.from_settings(settings).entries)
    install_handlers(app)
    app.include_router(router)

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
    return app
