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

# Between looks at a feed: each is a request to the feeds service, on the cores the builds
# it waits for need.
FEED_POLL_S = 0.25
STARTED = re.compile(r"^\d\d:\d\d:\d\d (\S+) +\| started \(pid (\d+)\)$", re.MULTILINE)


class Run:
    """`python -m devstack` in its own process group, its output collected as it comes."""

    def __init__(self, var: Path, ingest_port: int, feeds_port: int, **settings: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
        env |= {"NEWSWIRE_INGEST_PORT": str(ingest_port), "NEWSWIRE_FEEDS_PORT": str(feeds_port)}
        env |= settings
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


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def kill_and_see_it_recover(run: Run, var: Path, ingest_port: int, feeds_port: int) -> None:
    """SIGKILL the worker and the dispatcher: both come back and a new article is published."""
    wait_until(lambda: any("ready." in line for line in run.lines_of("worker")), 60, 0.1)
    old = {name: run.pid(name) for name in ("worker", "dispatcher")}
    assert all(old.values()), run.text()[-3000:]
    ready_before = sum("ready." in line for line in run.lines_of("worker"))
    for pid in old.values():
        os.kill(pid, signal.SIGKILL)  # type: ignore[arg-type]

    def restarted() -> bool:
        return all(run.pid(name) not in (None, pid) for name, pid in old.items())

    wait_until(restarted, timeout=30, interval=0.05)
    for name in old:
        assert f"{name} exited (signal 9); restarting in 0.5 s (restart 1)" in run.text()
    # The dead worker's pool child went with it: nothing of its process group is left.
    wait_until(lambda: not group_alive(old["worker"]), timeout=30)  # type: ignore[arg-type]

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
    wait_until(lambda: article["title"] in requests.get(feed, timeout=2).text, 60, FEED_POLL_S)


# Each run starts every process `make run` does, the costliest thing here: one run shows it
# all coming up, a killed worker and dispatcher coming back, and Ctrl-C stopping it all;
# a second run on its state shows nothing is made twice.
def test_run_comes_up_survives_killed_processes_and_comes_up_again_without_duplicates(
    tmp_path: Path,
):
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
        wait_until(lambda: "Şansımız var" in requests.get(feed, timeout=2).text, 30, FEED_POLL_S)
        kill_and_see_it_recover(first, var, ingest_port, feeds_port)
    finally:
        stopped = first.interrupt()
    assert stopped == 0
    assert "did not stop" not in first.text()
    assert not (var / "redis.sock").exists()  # redis-server shut down too
    for port in (ingest_port, feeds_port):
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            raise AssertionError(f"port {port} still answers after Ctrl-C")
        except requests.ConnectionError:
            pass

    # One ingest process: what this run shows (the AOF kept the articles, the key was kept)
    # does not depend on how many serve the API, and it is stopped once it shows it.
    second = Run(var, ingest_port, feeds_port, NEWSWIRE_INGEST_WORKERS="1")
    try:
        wait_until(lambda: "Newswire is running." in second.text(), timeout=60, interval=0.1)
        assert "sample articles: {'unchanged': 9}" in second.text()  # kept in the AOF
        assert (var / "dev-api-key").read_text().strip() == key
    finally:
        stopped = second.interrupt()
    assert stopped == 0


def test_a_crash_loop_backs_off_and_ctrl_c_still_stops_it():
    out = io.StringIO()
    supervisor = Supervisor(out, RestartPolicy(first_delay_s=0.1, max_delay_s=0.4))
    # Any command will do; a shell's starts in a fraction of Python's time.
    supervisor.add("crasher", ["sh", "-c", "echo up; exit 3"])
    supervisor.add("steady", ["sleep", "60"])
    threading.Timer(2.5, supervisor.stop).start()
    assert supervisor.run() == 0
    text = out.getvalue()
    delays = re.findall(r"crasher exited \(status 3\); restarting in ([\d.]+) s", text)
    assert delays[:4] == ["0.1", "0.2", "0.4", "0.4"], text
    assert "steady exited" not in text  # it ran until stopped, never restarted
    assert re.search(r"crasher +\| up", text)
    assert all(s.process.poll() is not None for s in supervisor.services.values())
