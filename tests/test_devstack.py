"""`make run`'s supervisor: everything comes up on an embedded Redis, a killed process comes
back by itself, Ctrl-C stops it all."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from devstack.redis_server import free_port
from devstack.services import ROOT
from devstack.supervisor import RestartPolicy, Supervisor
from tests.conftest import DATA, wait_until

pytestmark = pytest.mark.processes

STARTED = re.compile(r"^\d\d:\d\d:\d\d (\S+) +\| started \(pid (\d+)\)$", re.MULTILINE)


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

    def pid(self, name: str) -> int | None:
        """The pid the supervisor last started `name` with."""
        found = [int(pid) for service, pid in STARTED.findall(self.text()) if service == name]
        return found[-1] if found else None

    def lines_of(self, name: str) -> list[str]:
        prefix = re.compile(rf"^\d\d:\d\d:\d\d {re.escape(name)} +\| ")
        return [line for line in self.output if prefix.match(line)]

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


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_killed_processes_are_restarted_and_the_stack_keeps_working(tmp_path: Path):
    var = tmp_path / "var"
    ingest_port, feeds_port = free_port(), free_port()
    run = Run(var, ingest_port, feeds_port)
    try:
        wait_until(lambda: "Newswire is running." in run.text(), timeout=60, interval=0.1)
        wait_until(lambda: any("ready." in line for line in run.lines_of("worker")), 60, 0.1)
        old = {name: run.pid(name) for name in ("worker", "dispatcher")}
        assert all(old.values()), run.text()[-3000:]
        ready_before = sum("ready." in line for line in run.lines_of("worker"))
        for pid in old.values():
            os.kill(pid, signal.SIGKILL)  # type: ignore[arg-type]

        def restarted() -> bool:
            return all(run.pid(name) not in (None, pid) for name, pid in old.items())

        wait_until(restarted, timeout=10, interval=0.05)
        for name in old:
            assert f"{name} exited (signal 9); restarting in 0.5 s (restart 1)" in run.text()
        # The dead worker's pool child went with it: nothing of its process group is left.
        wait_until(lambda: not group_alive(old["worker"]), timeout=5)  # type: ignore[arg-type]

        wait_until(
            lambda: sum("ready." in line for line in run.lines_of("worker")) > ready_before,
            timeout=60,
            interval=0.1,
        )
        seed = json.loads((DATA / "corpus" / "seed-article.json").read_text())
        article = {
            **seed,
            "id": "dunya-after-the-crash",
            "url": "https://haber.example.com.tr/dunya/after-the-crash",
            "title": "Çöküşten sonra yayımlandı",
        }
        key = (var / "dev-api-key").read_text().strip()
        response = requests.put(
            f"http://127.0.0.1:{ingest_port}/v1/articles/{article['id']}",
            json=article,
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        feed = f"http://127.0.0.1:{feeds_port}/feeds/sections/dunya.rss"
        wait_until(lambda: article["title"] in requests.get(feed, timeout=2).text, timeout=10)
    finally:
        assert run.interrupt() == 0
    assert "did not stop" not in run.text()


def test_a_crash_loop_backs_off_and_ctrl_c_still_stops_it():
    out = io.StringIO()
    supervisor = Supervisor(out, RestartPolicy(first_delay_s=0.1, max_delay_s=0.4))
    supervisor.add("crasher", [sys.executable, "-c", "print('up'); raise SystemExit(3)"])
    supervisor.add("steady", [sys.executable, "-c", "import time; time.sleep(60)"])
    threading.Timer(2.5, supervisor.stop).start()
    assert supervisor.run() == 0
    text = out.getvalue()
    delays = re.findall(r"crasher exited \(status 3\); restarting in ([\d.]+) s", text)
    assert delays[:4] == ["0.1", "0.2", "0.4", "0.4"], text
    assert "steady exited" not in text  # it ran until stopped, never restarted
    assert re.search(r"crasher +\| up", text)
    assert all(s.process.poll() is not None for s in supervisor.services.values())
