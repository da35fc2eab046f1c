"""Render fixtures: a build context."""

from __future__ import annotations

import pytest

from services.render.pipeline.builds import BuildContext
from services.render.pipeline.celery_app import make_context
from shared.settings import Settings


@pytest.fixture
def enqueued() -> list[str]:
    """Targets a build asked to queue (the follow-ups of its output)."""
    return []


@pytest.fixture
def ctx(settings: Settings, enqueued: list[str]) -> BuildContext:
    return make_context(settings, enqueued.append)
