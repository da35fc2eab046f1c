"""`make run`'s supervisor: everything comes up on an embedded Redis, Ctrl-C stops it all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import requests

from devstack.redis_server import free_port
from devstack.services import ROOT
from tests.conftest import wait_until


class Run:
    """`python -m devstack` in its own process group, its output collected as it comes."""

    def __init__(self, var: Path, ingest_port: int, feeds_port: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
        env |= {"NEWSWIRE_INGEST_PORT": str(ingest_port), "NEWSWIRE_FEEDS_PORT": str(feeds_port)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack", "--var", str(var)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.output: list[str] = []
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self.output.append(line)

    def text(self) -> str:
        return "".join(self.output)

    def interrupt(self) -> int:
        """What Ctrl-C in a terminal does: SIGINT to the whole foreground group."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=30)


def test_run_brings_everything_up_twice_without_duplicates(tmp_path: Path):
    var = tmp_path / "var"
    ingest_port, feeds_port = free_port(), free_port()
    first = Run(var, ingest_port, feeds_port)
    try:
        wait_until(lambda: "Newswire is running." in first.text(), timeout=60, interval=0.1)
        assert "sample articles: {'created': 9}" in first.text()
        key = (var / "dev-api-key").read_text().strip()
        assert key in first.text()
        assert (var / "redis.sock").exists()
        feed = f"http://127.0.0.1:{feeds_port}/feeds/sections/dunya.rss"
        wait_until(lambda: "Şansımız var" in requests.get(feed, timeout=2).text, timeout=5)
    finally:
        first.interrupt()
    assert not (var / "redis.sock").exists()  # redis-server shut down too
    for port in (ingest_port, feeds_port):
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            raise AssertionError(f"port {port} still answers after Ctrl-C")
        except requests.ConnectionError:
            pass

    second = Run(var, ingest_port, feeds_port)
    try:
        wait_until(lambda: "Newswire is running." in second.text(), timeout=60, interval=0.1)
        assert "sample articles: {'unchanged': 9}" in second.text()  # kept in the AOF
        assert (var / "dev-api-key").read_text().strip() == key
    finally:
        second.interrupt()
