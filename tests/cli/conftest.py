"""Running `newswire` as operators do: a real process, settings from the environment; or its
`main` in this process with the same environment, for what a command does rather than how it
runs as a process (each module keeps a real run of each command it tests). And the pipeline
the commands look at and drive: the real dispatcher and worker processes."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from devstack.services import Processes, commands
from devstack.stack import busy, every_queue
from services.cli.__main__ import main
from shared.settings import Settings
from tests.conftest import Databases, database, wait_until

Newswire = Callable[..., subprocess.CompletedProcess[str]]


def environment(settings: Settings, env: dict[str, str]) -> dict[str, str]:
    """This process's environment without its NEWSWIRE_ settings, then the test's."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")},
        "NEWSWIRE_REDIS_URL": settings.redis_url,
        "NEWSWIRE_ARTIFACT_DIR": str(settings.artifact_dir),
        **env,
    }


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """Where the commands run: not the checkout, where a `make run` going on would have
    left its var/newswire.env for them to read."""
    (tmp_path / "cwd").mkdir(exist_ok=True)
    return tmp_path / "cwd"


@pytest.fixture
def newswire(settings: Settings, elsewhere: Path) -> Newswire:
    """Run `newswire ARGS…` against the test's Redis and artifact directory."""

    def run(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            cwd=elsewhere,
            env=environment(settings, env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def newswire_in_process(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, elsewhere: Path
) -> Newswire:
    """`newswire ARGS…` as `newswire` runs it, but through `main` in this process: the same
    settings from the same environment, its exit status, stdout and stderr."""

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        out, err = io.StringIO(), io.StringIO()
        with monkeypatch.context() as patch:
            patch.chdir(elsewhere)
            for name in [k for k in os.environ if k.startswith("NEWSWIRE_")]:
                patch.delenv(name)
            for name, value in environment(settings, env).items():
                if name.startswith("NEWSWIRE_"):
                    patch.setenv(name, value)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    status = main(list(args))
                except SystemExit as exc:  # argparse refusing the arguments (2)
                    status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        return subprocess.CompletedProcess(
            ["newswire", *args], status, out.getvalue(), err.getvalue()
        )

    return run


@dataclass
class Pipeline:
    """The dispatcher and one Celery worker for every queue, each a process, on a database of
    the session's Valkey: what turns stored articles into files. Without ingest and the feeds
    service, which the commands do not talk to: articles are written as ingest writes them
    (`write(article, using=pipeline.settings)`), files read where the workers put them."""

    settings: Settings
    env: dict[str, str]  # the processes' NEWSWIRE_ settings, for `newswire(..., **env)`
    processes: Processes

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until every event is handled and nothing is queued or building."""
        db = redis.Redis.from_url(self.settings.redis_url)
        try:
            wait_until(lambda: not busy(db), timeout, 0.05)
        finally:
            db.close()


@contextlib.contextmanager
def running_pipeline(databases: Databases, root: Path, **overrides: str) -> Iterator[Pipeline]:
    """A pipeline with `make_stack`'s short leases, stopped on leaving."""
    with database(databases) as url:
        env = {
            "NEWSWIRE_REDIS_URL": url,
            "NEWSWIRE_ARTIFACT_DIR": str(root / "artifacts"),
            "NEWSWIRE_BUILD_LEASE_MS": "3000",
            "NEWSWIRE_CLAIM_IDLE_MS": "2000",
            **overrides,
        }
        settings = Settings(**{k.removeprefix("NEWSWIRE_").lower(): v for k, v in env.items()})
        processes = Processes(env, root / "logs")
        try:
            processes.start("dispatcher")
            processes.start("worker", every_queue(commands()["worker"]))
            wait_until(lambda: "ready." in processes.log("worker"), 60, 0.1)
            yield Pipeline(settings, env, processes)
        finally:
            processes.stop_all()
