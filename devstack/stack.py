"""A whole Newswire stack as real processes on free ports, for tests and benchmarks."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
import requests

from devstack.redis_server import RedisServer, free_port
from devstack.services import Processes, commands, wait_http

# The longest pause between two checks: what takes long is checked less often, so a wait on a
# busy machine does not itself keep a core busy.
MAX_INTERVAL = 0.25


def wait_until(
    check: Callable[[], Any], timeout: float, interval: float = 0.02, *, backoff: bool = True
) -> Any:
    """Poll `check` until it returns something truthy, and return that; the pause between
    checks starts at `interval` and grows by half each time, up to MAX_INTERVAL (or
    `interval`, if that is longer). `backoff=False` keeps it at `interval`: for catching a
    state that lasts only milliseconds (a build in progress), not for waiting on an outcome.

    Raises:
        TimeoutError: `check` stayed falsy for `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    pause, longest = interval, max(interval, MAX_INTERVAL) if backoff else interval
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        time.sleep(pause)
        pause = min(pause * 1.5, longest)


def busy(db: redis.Redis, events_stream: str = "nw:events") -> list[str]:
    """What the pipeline still has to do; empty when it is idle.

    Idle means: every event was read and acknowledged by every consumer group, no Celery
    message is waiting in a queue or taken but unacknowledged, and no target is queued,
    building, cooling or waiting to retry.
    """
    found = []
    stream = db.xinfo_stream(events_stream) if db.exists(events_stream) else None
    for group in db.xinfo_groups(events_stream) if stream else []:
        behind = group.get("lag")
        if behind is None:  # unknown after a trim: compare positions instead
            behind = int(group["last-delivered-id"] != stream["last-generated-id"])
        if behind or group["pending"]:
            found.append(f"group {group['name']!r}: {behind} unread, {group['pending']} pending")
    # Kombu keeps each queue in a list (an empty list does not exist in Redis) and the
    # messages workers hold in the `unacked` hash.
    for key in db.scan_iter(_type="list"):
        if not key.startswith(b"nw:"):
            found.append(f"queue {key!r}: {db.llen(key)} messages")
    if db.hlen("unacked"):
        found.append(f"{db.hlen('unacked')} messages taken by workers, not yet acknowledged")
    for key in db.scan_iter(match="nw:target:*", _type="hash"):
        state = db.hget(key, "state")
        if state not in (None, b"idle"):
            found.append(f"{key.decode()}: {state.decode()}")
    return found


def every_queue(worker_argv: list[str]) -> list[str]:
    """A worker command that consumes every queue, WebSub's included."""
    argv = list(worker_argv)
    at = argv.index("--exclude-queues")
    del argv[at : at + 2]
    return argv


class Stack:
    """Redis, ingest, dispatcher, the workers and the feeds service, each its own process.

    With `redis_url`, the stack uses that server (e.g. one database of a server others use
    too) and leaves it running at `stop`; without, it starts and stops a server of its own.
    `compact` runs one worker for every queue (cards and WebSub too) instead of the three
    kinds `make run` and compose run, and one ingest process: the same code in fewer
    processes, for when how work spreads over processes is not what is looked at.
    """

    def __init__(
        self,
        root: Path,
        api_keys: dict[str, str],
        api_key: str,
        redis_url: str | None = None,
        *,
        compact: bool = False,
        **overrides: str,
    ) -> None:
        self.compact = compact
        self.redis = None if redis_url else RedisServer(root / "redis").start()
        self.redis_url = redis_url or self.redis.url
        self.ingest_url = f"http://127.0.0.1:{(ingest_port := free_port())}"
        self.feeds_url = f"http://127.0.0.1:{(feeds_port := free_port())}"
        self.env = {
            "NEWSWIRE_REDIS_URL": self.redis_url,
            "NEWSWIRE_API_KEYS": json.dumps(api_keys),
            "NEWSWIRE_ARTIFACT_DIR": str(root / "artifacts"),
            "NEWSWIRE_INGEST_PORT": str(ingest_port),
            "NEWSWIRE_FEEDS_PORT": str(feeds_port),
            "NEWSWIRE_FEEDS_BASE_URL": self.feeds_url + "/",
            # The stack writes as the site itself (its key's publisher) unless told otherwise.
            "NEWSWIRE_SITE_PUBLISHER": api_keys[hashlib.sha256(api_key.encode()).hexdigest()],
            **({"NEWSWIRE_INGEST_WORKERS": "1"} if compact else {}),
            **overrides,
        }
        self.processes = Processes(self.env, root / "logs")
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {api_key}"

    def start(self) -> Stack:
        if self.compact:
            for name in ("ingest", "dispatcher", "feeds"):
                self.processes.start(name)
            self.processes.start("worker", every_queue(commands()["worker"]))
        else:
            for name in ("ingest", "dispatcher", "worker", "card-worker", "push-worker", "feeds"):
                self.processes.start(name)
        # Up means ready: serving, and Redis (and the broker) answering them.
        wait_http(self.ingest_url + "/readyz", process=self.processes.running["ingest"])
        wait_http(self.feeds_url + "/readyz", process=self.processes.running["feeds"])
        self.wait_worker_ready()
        return self

    def wait_worker_ready(self, timeout: float = 30.0) -> None:
        for name in ("worker", "card-worker", "push-worker"):
            if name in self.processes.running:
                wait_until(lambda n=name: "ready." in self.processes.log(n), timeout, 0.1)

    def restart_worker(self) -> None:
        (self.processes.log_dir / "worker.log").unlink()
        argv = commands()["worker"]
        self.processes.start("worker", every_queue(argv) if self.compact else argv)
        self.wait_worker_ready()

    def put(self, article: dict[str, Any]) -> requests.Response:
        return self.http.put(f"{self.ingest_url}/v1/articles/{article['id']}", json=article)

    def delete(self, article_id: str) -> requests.Response:
        return self.http.delete(f"{self.ingest_url}/v1/articles/{article_id}")

    def feed(self, path: str, **headers: str) -> requests.Response:
        return requests.get(f"{self.feeds_url}/{path}", headers=headers, timeout=5)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until every event is fully handled and nothing is queued or building.

        Raises:
            TimeoutError: still busy after `timeout`; the message says with what.
        """
        db = redis.Redis.from_url(self.env["NEWSWIRE_REDIS_URL"])
        stream = self.env.get("NEWSWIRE_EVENTS_STREAM", "nw:events")
        try:
            wait_until(lambda: not busy(db, stream), timeout, 0.05)
        except TimeoutError:
            raise TimeoutError(f"still busy after {timeout}s: {busy(db, stream)}") from None
        finally:
            db.close()

    def stop(self) -> None:
        self.processes.stop_all()
        if self.redis is not None:
            self.redis.stop()
