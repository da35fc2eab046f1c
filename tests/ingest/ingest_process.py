"""The ingest service as its own process (`python -m services.ingest`), the way it runs in
production: its uvicorn options and thread pool are part of what is tested."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.redis_server import free_port
from devstack.services import Processes, wait_http
from tests.conftest import API_KEYS


@contextmanager
def ingest_process(redis_url: str, log_dir: Path, **env: str) -> Iterator[str]:
    """Start ingest against `redis_url` with the test keys and `env`; yields its base URL."""
    port = free_port()
    processes = Processes(
        {
            "NEWSWIRE_REDIS_URL": redis_url,
            "NEWSWIRE_API_KEYS": json.dumps(API_KEYS),
            "NEWSWIRE_INGEST_PORT": str(port),
            "NEWSWIRE_RATE_LIMIT_PER_S": "0",
            **env,
        },
        log_dir,
    )
    process = processes.start("ingest")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", timeout=30, process=process)
        yield url
    finally:
        processes.stop_all()
