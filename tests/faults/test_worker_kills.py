"""Workers killed with SIGKILL mid-build: their work is picked up by another worker, a slow
but healthy build is never started twice, and under a steady stream of updates every event
reaches its outputs, whole, never older than what was served, equal to a rebuild."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import Databases, Stack, running_stack, wait_until
from tests.faults.conftest import (
    FAULT_KINDS,
    owe,
    process_of,
    start_worker,
    worker_ready,
)
from tests.faults.fault_kind import plan_key

pytestmark = pytest.mark.processes

KILLS = 5
# A lost build is taken over once its 3 s lease runs out: wait many times that for it.
RECOVERY_DEADLINE_S = 60


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory, databases: Databases) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("kills")
    with running_stack(databases, root, NEWSWIRE_EXTRA_KINDS=FAULT_KINDS) as stack:
        start_worker(stack, "worker-2")
        wait_until(lambda: worker_ready(stack, "worker-2"), timeout=30, interval=0.1)
        yield stack


def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check` until it is truthy; fail naming `what` if it is not within `timeout`."""
    try:
        return wait_until(check, timeout)
    except pytest.fail.Exception:
        pytest.fail(f"never happened (waited {timeout} s): {what}")


def test_a_killed_workers_build_is_published_by_another(two_workers, fdb_of):
    db = fdb_of(two_workers)
    recoveries = []
    for round_ in range(KILLS):
        target = f"fault:killed-{round_}"
        # Long enough that the kill always lands mid-render, however slow the machine.
        db.hset(plan_key(target), "sleep", RECOVERY_DEADLINE_S / 2)
        owe(two_workers, target)
        pid = int(wait_until(lambda t=target: db.hget(plan_key(t), "pid"), timeout=10))
        victim = process_of(two_workers, pid)
        assert victim is not None
        two_workers.processes.kill(victim)  # mid-render: it is asleep
        killed = time.monotonic()
        db.hset(plan_key(target), "sleep", 0)  # read by the recovery, once the lease runs out
        served = f"faults/killed-{round_}.txt"
        eventually(
            lambda s=served: two_workers.feed(s).status_code == 200,
            RECOVERY_DEADLINE_S,
            f"{target}'s build, lost with its worker, published by the other",
        )
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
    # The build sleeps 8 s: wait for it many times over.
    wait_until(lambda: two_workers.feed("faults/long.txt").status_code == 200, timeout=80)
    time.sleep(3.5)  # a lease more: a second build would have begun by now
    assert db.hget(plan_key(target), "renders") == "1"
    assert db.hget(f"nw:target:{target}", "builds") == "1"
