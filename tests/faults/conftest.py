"""Fault fixtures: a stack that also builds the test-only `fault:` kind, and the operator's
command run against a stack."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
import redis

from devstack.services import commands
from devstack.stack import every_queue
from services.cli.rebuild import request_rebuild
from shared.settings import Settings
from tests.conftest import Databases, Stack, running_stack

FAULT_KINDS = '["tests.faults.fault_kind:FaultKind"]'


def newswire(stack: Stack, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `newswire <args>` as an operator would, against the stack's Redis."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**clean, **stack.env, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def owe(stack: Stack, *targets: str) -> None:
    """Owe targets a build, as `newswire rebuild` does: one event on the stream."""
    client = redis.Redis.from_url(stack.env["NEWSWIRE_REDIS_URL"])
    request_rebuild(client, Settings(redis_url=stack.env["NEWSWIRE_REDIS_URL"]), list(targets))


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory, databases: Databases) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("faults")
    with running_stack(databases, root, NEWSWIRE_EXTRA_KINDS=FAULT_KINDS) as running:
        yield running


@pytest.fixture
def served(fault_stack: Stack) -> Callable[[str], bool]:
    """Whether the feeds service serves a fault target's artifact now."""

    def check(target: str) -> bool:
        name = target.removeprefix("fault:")
        return fault_stack.feed(f"faults/{name}.txt").status_code == 200

    return check


@pytest.fixture
def fdb(fault_stack: Stack) -> redis.Redis:
    return redis.Redis.from_url(fault_stack.env["NEWSWIRE_REDIS_URL"], decode_responses=True)


def start_worker(stack: Stack, name: str) -> None:
    """Start (or start again) a build worker like the stack's own, under its own name: on a
    compact stack, one that takes every queue."""
    argv = every_queue(commands()["worker"]) if stack.compact else commands()["worker"]
    argv[argv.index("--hostname") + 1] = f"{name}@%h"
    (stack.processes.log_dir / f"{name}.log").unlink(missing_ok=True)
    stack.processes.start(name, argv)


def worker_ready(stack: Stack, name: str) -> bool:
    return "ready." in stack.processes.log(name)


def process_of(stack: Stack, pid: int) -> str | None:
    """The name of the stack process whose group `pid` (e.g. a pool process) belongs to."""
    try:
        group = os.getpgid(pid)
    except ProcessLookupError:
        return None
    return next((n for n, p in stack.processes.running.items() if p.pid == group), None)
