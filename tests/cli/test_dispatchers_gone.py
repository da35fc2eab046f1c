"""A dispatcher that dies, as `newswire status` shows it: gone once it has not read for the
claim idle time, removed from the consumer group by a live dispatcher once it holds
nothing, and never given a made-up "last read" after Valkey restarts (which stamps the
consumers it loads with the load's time)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from devstack.redis_server import RedisServer, free_port
from devstack.services import Processes
from services.cli.status_report import dispatchers
from services.cli.status_screen import describe
from services.render.pipeline.backlog import Reader
from services.render.pipeline.coordinator import Coordinator
from services.render.pipeline.dispatcher import Dispatcher
from shared.kinds.registry import Registry
from shared.settings import Settings
from tests.cli.test_status_sources import rows
from tests.conftest import wait_until

pytestmark = pytest.mark.processes

CLAIM_IDLE_MS = 500
# A time shown as one: "read … 1.2 s ago", "no read for 3.0 s".
A_TIME = re.compile(r"\d+(\.\d)? (s|min|h|d)\b")


@pytest.fixture
def persistent_valkey(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test's own, with its append-only file: a restart keeps the group."""
    server = RedisServer(tmp_path / "valkey", persistent=True).start()
    yield server
    server.stop()


def test_a_killed_dispatcher_is_gone_then_removed_and_a_restart_invents_no_read(
    persistent_valkey, tmp_path, newswire_in_process, write, seed_article
):
    valkey = persistent_valkey
    env = {"NEWSWIRE_REDIS_URL": valkey.url, "NEWSWIRE_CLAIM_IDLE_MS": str(CLAIM_IDLE_MS)}
    settings = Settings(redis_url=valkey.url, claim_idle_ms=CLAIM_IDLE_MS)
    db = redis.Redis.from_url(valkey.url, decode_responses=True)

    def status() -> dict[str, list[str]]:
        result = newswire_in_process("status", **env)
        assert result.returncode == 0, result.stderr
        return rows(result.stdout.splitlines())

    def doomed() -> dict[str, Any] | None:
        result = newswire_in_process("status", "--json", **env)
        found = [d for d in json.loads(result.stdout)["dispatchers"] if d["name"] == "doomed"]
        return found[0] if found else None

    # A dispatcher whose broker is unreachable: it reads the event and can queue nothing, so
    # the entry stays pending with it.
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    processes = Processes(
        {**env, "NEWSWIRE_CONSUMER_NAME": "doomed", "NEWSWIRE_BROKER_URL": nowhere},
        tmp_path / "logs",
    )
    try:
        processes.start("dispatcher")
        wait_until(lambda: db.exists("nw:events"), timeout=60, interval=0.05)
        write(seed_article, using=settings)
        wait_until(lambda: (d := doomed()) and d["pending"] == 1, timeout=60, interval=0.05)
        processes.kill("dispatcher")  # SIGKILL: it says goodbye to no one
    finally:
        processes.stop_all()
    shown = wait_until(
        lambda: (s := status()) and "gone" in s["dispatcher doomed"][0] and s, 30, 0.05
    )
    assert re.fullmatch(
        r"1 pending, gone(: no read for .+| \(last read not known\))",
        (shown["dispatcher doomed"][0]),
    )

    valkey.kill()  # and back, loading its append-only file
    valkey.start()
    db = redis.Redis.from_url(valkey.url, decode_responses=True)
    assert db.xinfo_consumers("nw:events", "render")[0]["name"] == "doomed"  # loaded, stamped
    seen: list[dict[str, Any]] = []

    def gone_again() -> bool:  # its claim idle time after the restart
        seen.append(state := doomed())
        return state["gone"]

    wait_until(gone_again, timeout=30, interval=0.02)
    for state in seen:
        assert state["pending"] == 1
        assert state["last_read_s_ago"] is None and state["seen_s_ago"] is None, state
        assert state["last_read"] == "unknown"
    said = status()["dispatcher doomed"][0]
    assert said == "1 pending, gone (last read not known)"
    assert not A_TIME.search(said)

    # A live dispatcher claims what the dead one held, then removes it: it holds nothing.
    client = redis.Redis.from_url(valkey.url)
    live = Dispatcher(
        client,
        Coordinator(client, settings),
        lambda _target: None,
        settings,
        "live",
        Registry.from_settings(settings),
    )
    live.ensure_group()

    def removed() -> bool:
        live.step(block_ms=10)
        return [c["name"] for c in db.xinfo_consumers("nw:events", "render")] == ["live"]

    wait_until(removed, timeout=30, interval=0.05)
    assert live.acked == 1  # the dead one's event, handled by the live one
    assert db.xpending("nw:events", "render")["pending"] == 0
    shown = status()
    assert "dispatcher doomed" not in shown
    assert shown["dispatcher live"][0].startswith("0 pending, ")


def test_times_a_restart_stamped_are_not_shown_as_reads():
    hour = 3_600_000
    readers = [
        Reader("reading", 0, idle_ms=20, inactive_ms=120_000),
        Reader("quiet", 0, idle_ms=20, inactive_ms=-1),
        Reader("dead", 2, idle_ms=12_000, inactive_ms=12_000),
        Reader("stamped", 1, idle_ms=hour - 300, inactive_ms=hour - 300),  # at the load
        Reader("old redis", 0, idle_ms=20),  # no `inactive` reported
    ]
    found = {d.name: d for d in dispatchers(readers, claim_idle_ms=2_500, uptime_ms=hour)}
    assert [d.name for d in dispatchers(readers, 2_500, hour)] == [
        "old redis", "quiet", "reading", "dead", "stamped"
    ]  # fmt: skip
    said = {name: describe(d) for name, d in found.items()}
    assert said == {
        "reading": "0 pending, last event read 2 min ago",
        "quiet": "0 pending, no event read yet",
        "dead": "2 pending, gone: no read for 12.0 s",
        "stamped": "1 pending, gone (last read not known)",
        "old redis": "0 pending",
    }
    assert (found["stamped"].seen_ms, found["stamped"].last_read_ms) == (None, None)
