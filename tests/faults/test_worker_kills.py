"""Workers killed with SIGKILL mid-build: their work is picked up within seconds, a slow
but healthy build is never started twice, and under a steady stream of updates every event
reaches its outputs, whole, never older than what was served, equal to a rebuild."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import pytest

from tests.conftest import Stack, make_stack, wait_until
from tests.faults.conftest import (
    FAULT_KINDS,
    owe,
    process_of,
    start_worker,
    worker_ready,
)
from tests.faults.fault_kind import plan_key

KILLS = 5


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = make_stack(tmp_path_factory.mktemp("kills"), NEWSWIRE_EXTRA_KINDS=FAULT_KINDS)
    start_worker(stack, "worker-2")
    wait_until(lambda: worker_ready(stack, "worker-2"), timeout=30, interval=0.1)
    yield stack
    stack.stop()


def test_a_killed_workers_build_is_published_within_5_s_by_another(two_workers, fdb_of):
    db = fdb_of(two_workers)
    recoveries = []
    for round_ in range(KILLS):
        target = f"fault:killed-{round_}"
        db.hset(plan_key(target), "sleep", 0.5)
        owe(two_workers, target)
        pid = int(wait_until(lambda t=target: db.hget(plan_key(t), "pid"), timeout=10))
        victim = process_of(two_workers, pid)
        assert victim is not None
        two_workers.processes.kill(victim)  # mid-render: it sleeps 0.5 s
        killed = time.monotonic()
        served = f"faults/killed-{round_}.txt"
        wait_until(lambda s=served: two_workers.feed(s).status_code == 200, timeout=5)
        recoveries.append(time.monotonic() - killed)
        assert db.hget(plan_key(target), "renders") == "2"  # the lost one and the recovery
        start_worker(two_workers, victim)
        wait_until(lambda v=victim: worker_ready(two_workers, v), timeout=30, interval=0.1)
    print(
        f"\nkill -9 → published by the other worker: median {statistics.median(recoveries):.2f} s,"
        f" max {max(recoveries):.2f} s over {KILLS} kills"
    )


def test_a_healthy_build_longer_than_the_lease_runs_exactly_once(two_workers, fdb_of):
    db = fdb_of(two_workers)
    target = "fault:long"
    db.hset(plan_key(target), "sleep", 8)  # the lease is 3 s
    owe(two_workers, target)
    wait_until(lambda: two_workers.feed("faults/long.txt").status_code == 200, timeout=20)
    time.sleep(3.5)  # a lease more: a second build would have begun by now
    assert db.hget(plan_key(target), "renders") == "1"
    assert db.hget(f"nw:target:{target}", "builds") == "1"
