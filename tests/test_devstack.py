"""`make run`'s supervisor: everything comes up on an embedded Redis, a killed process comes
back by itself, Ctrl-C stops it all, and so does killing the supervisor itself.

tests/test_devstack_lifecycle.py has two stacks side by side and the other ways to stop."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import threading
from pathlib import Path

import pytest
import redis
import requests

from devstack.supervisor import RestartPolicy, Supervisor
from tests.conftest import DATA, wait_until
from tests.devstack_runs import BANNER, Run, alive, in_groups, left_of

pytestmark = pytest.mark.processes

# Between looks at a feed: each is a request to the feeds service, on the cores the builds
# it waits for need.
FEED_POLL_S = 0.25


def read_env_file(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def kill_and_see_it_recover(run: Run) -> None:
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
    wait_until(lambda: not in_groups({old["worker"]}), timeout=30)  # type: ignore[arg-type]

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
    key = (run.var / "dev-api-key").read_text().strip()
    response = requests.put(
        f"{run.ports.ingest_url}/v1/articles/{article['id']}",
        json=article,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    feed = f"{run.ports.feeds_url}/feeds/sections/dunya.rss"
    wait_until(lambda: article["title"] in requests.get(feed, timeout=2).text, 60, FEED_POLL_S)


def check_env_file(run: Run) -> None:
    """var/newswire.env says where the stack is: its Redis answers there."""
    env = read_env_file(run.var / "newswire.env")
    assert env["NEWSWIRE_REDIS_URL"] == f"unix://{run.var / 'redis.sock'}"
    assert env["NEWSWIRE_ARTIFACT_DIR"] == str(run.var / "artifacts")
    assert env["NEWSWIRE_INGEST_PORT"] == str(run.ports.ingest)
    assert env["NEWSWIRE_FEEDS_PORT"] == str(run.ports.feeds)
    assert env["NEWSWIRE_WORKER_METRICS_PORT"] == str(run.ports.metrics["worker"])
    client = redis.Redis.from_url(env["NEWSWIRE_REDIS_URL"])
    try:
        assert client.ping()
    finally:
        client.close()


# Each run starts every process `make run` does, the costliest thing here: one run shows it
# all coming up, a killed worker and dispatcher coming back, and Ctrl-C stopping it all;
# a second run on its state shows nothing is made twice, and that killing its supervisor
# alone (SIGKILL: no chance to stop anything) still takes every process with it.
def test_run_comes_up_survives_killed_processes_and_comes_up_again_without_duplicates(
    tmp_path: Path,
):
    var = tmp_path / "var"
    first = Run(var)
    try:
        wait_until(lambda: BANNER in first.text(), timeout=60, interval=0.1)
        assert "sample articles: {'created': 9}" in first.text()
        key = (var / "dev-api-key").read_text().strip()
        assert key in first.text()
        assert (var / "redis.sock").exists()
        check_env_file(first)
        feed = f"{first.ports.feeds_url}/feeds/sections/dunya.rss"
        wait_until(lambda: "Şansımız var" in requests.get(feed, timeout=2).text, 30, FEED_POLL_S)
        kill_and_see_it_recover(first)
    finally:
        stopped = first.interrupt()
        first.kill()
    assert stopped == 0
    assert "did not stop" not in first.text()
    assert not (var / "redis.sock").exists()  # redis-server shut down too
    assert not (var / "newswire.env").exists()  # it stopped cleanly: nothing points at it
    wait_until(lambda: not left_of(first), timeout=30, interval=0.1)
    for port in (first.ports.ingest, first.ports.feeds):
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            raise AssertionError(f"port {port} still answers after Ctrl-C")
        except requests.ConnectionError:
            pass

    # One ingest process: what this run shows (the AOF kept the articles, the key was kept)
    # does not depend on how many serve the API, and it is stopped once it shows it.
    second = Run(var, first.ports, NEWSWIRE_INGEST_WORKERS="1")
    try:
        wait_until(lambda: BANNER in second.text(), timeout=60, interval=0.1)
        assert "sample articles: {'unchanged': 9}" in second.text()  # kept in the AOF
        assert (var / "dev-api-key").read_text().strip() == key
        services = second.started()
        os.kill(second.process.pid, signal.SIGKILL)
        assert second.process.wait(timeout=30) == -signal.SIGKILL
        # Each service gets its parent-death signal, and a Celery worker stops its pool.
        wait_until(lambda: not left_of(second), timeout=30, interval=0.1)
        assert len(services) == 7 and not any(alive(pid) for pid in services)
    finally:
        second.kill()


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
