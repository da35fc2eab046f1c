"""How each Newswire process is started, and a small runner for tests and benchmarks.

The commands here are the ones `make run` supervises; docker-compose.yml runs the same ones.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import requests

from devstack.redis_server import free_port
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# The processes without an HTTP server of their own (ingest and feeds serve /metrics on their
# port) → the setting that holds the metrics port `make run` gives each; docker-compose.yml
# gives each service the default one.
METRICS_SETTINGS = {
    "dispatcher": "dispatcher_metrics_port",
    "worker": "worker_metrics_port",
    "card-worker": "card_worker_metrics_port",
    "push-worker": "push_worker_metrics_port",
}


def metrics_ports(settings: Settings) -> dict[str, int]:
    """Process name → its metrics port, as `settings` set them."""
    return {name: getattr(settings, field) for name, field in METRICS_SETTINGS.items()}


def setting_variable(field: str) -> str:
    """The environment variable that sets a Settings field, e.g. NEWSWIRE_FEEDS_PORT."""
    return f"{Settings.model_config['env_prefix']}{field}".upper()


def metrics_env(name: str, ports: Mapping[str, int]) -> dict[str, str]:
    """The environment that gives process `name` its metrics port, if it has one."""
    return {"NEWSWIRE_METRICS_PORT": str(ports[name])} if name in ports else {}


def commands(python: str = sys.executable) -> dict[str, list[str]]:
    """Process name → argv, in start order.

    Feeds and sitemaps build in the worker's own process (the solo pool): their builds are
    many and short, and a pool child would cost a hand-over per task. Cards build on their
    own workers so they scale apart from feeds and sitemaps. WebSub
    deliveries wait on subscribers' servers, so they run on threads of a worker of their own,
    never holding up a build. The first worker takes every other queue, so a new kind's
    builds run without a change here.
    """

    def worker(name: str, *options: str) -> list[str]:
        return [
            python, "-m", "celery", "-A", "services.render.pipeline.worker", "worker", *options,
            "--loglevel", "INFO", "--without-mingle", "--without-gossip",
            "--hostname", f"{name}-{os.getpid()}@%h",
        ]  # fmt: skip

    return {
        "ingest": [python, "-m", "services.ingest"],
        "dispatcher": [python, "-m", "services.render.pipeline.dispatcher"],
        "worker": worker("worker", "--exclude-queues", "cards,websub", "--pool", "solo"),
        "card-worker": worker("card-worker", "--queues", "cards", "--concurrency", "1"),
        "push-worker": worker(
            "push-worker", "--queues", "websub", "--pool", "threads", "--concurrency", "8"
        ),
        "feeds": [python, "-m", "services.feeds"],
    }


def wait_http(url: str, timeout: float = 20.0, process: subprocess.Popen | None = None) -> None:
    """Poll `url` until it answers 200.

    Raises:
        RuntimeError: it did not within `timeout`, or `process` exited first.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


class Processes:
    """Starts services as child processes with a given environment; stops them all."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self.env = {**os.environ, **env}
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        # Free ports, so stacks side by side (and `make run`) never compete for one.
        self.metrics_ports = {name: free_port() for name in METRICS_SETTINGS}

    def start(self, name: str, argv: list[str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        env = self.env if argv else {**self.env, **metrics_env(name, self.metrics_ports)}
        process = subprocess.Popen(
            argv or commands()[name],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.running[name] = process
        return process

    def kill(self, name: str) -> None:
        """SIGKILL the whole process group: a Celery worker and its pool children alike."""
        process = self.running.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        for process in self.running.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for name, process in list(self.running.items()):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill(name)
        self.running.clear()

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")
