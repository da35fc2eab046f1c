"""A whole Newswire stack as real processes on free ports, for tests and benchmarks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from devstack.redis_server import RedisServer, free_port
from devstack.services import Processes, wait_http


def wait_until(check: Callable[[], Any], timeout: float, interval: float = 0.02) -> Any:
    """Poll `check` until it returns something truthy, and return that.

    Raises:
        TimeoutError: `check` stayed falsy for `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        time.sleep(interval)


class Stack:
    """Redis, ingest, dispatcher, the workers and the feeds service, each its own process."""

    def __init__(
        self, root: Path, api_keys: dict[str, str], api_key: str, **overrides: str
    ) -> None:
        self.redis = RedisServer(root / "redis").start()
        self.ingest_url = f"http://127.0.0.1:{(ingest_port := free_port())}"
        self.feeds_url = f"http://127.0.0.1:{(feeds_port := free_port())}"
        self.env = {
            "NEWSWIRE_REDIS_URL": self.redis.url,
            "NEWSWIRE_API_KEYS": json.dumps(api_keys),
            "NEWSWIRE_ARTIFACT_DIR": str(root / "artifacts"),
            "NEWSWIRE_INGEST_PORT": str(ingest_port),
            "NEWSWIRE_FEEDS_PORT": str(feeds_port),
            "NEWSWIRE_FEEDS_BASE_URL": self.feeds_url + "/",
            **overrides,
        }
        self.processes = Processes(self.env, root / "logs")
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {api_key}"

    def start(self) -> Stack:
        for name in ("ingest", "dispatcher", "worker", "card-worker", "push-worker", "feeds"):
            self.processes.start(name)
        wait_http(self.ingest_url + "/healthz", process=self.processes.running["ingest"])
        wait_http(self.feeds_url + "/healthz", process=self.processes.running["feeds"])
        self.wait_worker_ready()
        return self

    def wait_worker_ready(self, timeout: float = 30.0) -> None:
        for name in ("worker", "card-worker", "push-worker"):
            if name in self.processes.running:
                wait_until(lambda n=name: "ready." in self.processes.log(n), timeout, 0.1)

    def restart_worker(self) -> None:
        (self.processes.log_dir / "worker.log").unlink()
        self.processes.start("worker")
        self.wait_worker_ready()

    def put(self, article: dict[str, Any]) -> requests.Response:
        return self.http.put(f"{self.ingest_url}/v1/articles/{article['id']}", json=article)

    def delete(self, article_id: str) -> requests.Response:
        return self.http.delete(f"{self.ingest_url}/v1/articles/{article_id}")

    def feed(self, path: str, **headers: str) -> requests.Response:
        return requests.get(f"{self.feeds_url}/{path}", headers=headers, timeout=5)

    def stop(self) -> None:
        self.processes.stop_all()
        self.redis.stop()
