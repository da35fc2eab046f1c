"""Render fixtures: writing articles the way ingest does, and a build context."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import redis
import redis.asyncio

from services.render.builds import BuildContext
from services.render.celery_app import make_context
from services.render.kinds import Registry
from shared.articles import ArticleWriter, WriteResult
from shared.models import Article
from shared.settings import Settings


@pytest.fixture
def write(settings: Settings) -> Callable[..., WriteResult]:
    """Store an article (dict) with its event, exactly as the ingest service does."""

    def _write(raw: dict[str, Any], publisher: str = "newsroom") -> WriteResult:
        article = Article.model_validate(raw, context={"default_language": "tr"})

        async def go() -> WriteResult:
            client = redis.asyncio.Redis.from_url(settings.redis_url)
            try:
                writer = ArticleWriter(client, settings, Registry.from_settings(settings).entries)
                return await writer.upsert(article, publisher)
            finally:
                await client.aclose()

        return asyncio.run(go())

    return _write


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
def enqueued() -> list[str]:
    """Targets a build asked to queue (the follow-ups of its output)."""
    return []


@pytest.fixture
def ctx(settings: Settings, enqueued: list[str]) -> BuildContext:
    return make_context(settings, enqueued.append)


@pytest.fixture
def db(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, decode_responses=True)
