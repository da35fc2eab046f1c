"""Running `newswire` as operators do: a real process, settings from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from shared.settings import Settings


@pytest.fixture
def newswire(settings: Settings) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `newswire ARGS…` against the test's Redis and artifact directory."""

    def run(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")},
            "NEWSWIRE_REDIS_URL": settings.redis_url,
            "NEWSWIRE_ARTIFACT_DIR": str(settings.artifact_dir),
            **env,
        }
        return subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run
