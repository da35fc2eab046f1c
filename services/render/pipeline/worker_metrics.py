"""A Celery worker's /metrics: prometheus_client's multiprocess mode across its pool.

Builds run in the pool's child processes, which Prometheus cannot scrape one by one (and a
child may be replaced at any time). So every process of a worker writes its metrics to
memory-mapped files in one directory of that worker's own (PROMETHEUS_MULTIPROC_DIR, emptied
when the worker starts), and the worker's main process serves /metrics on `metrics_port`,
merging the files: counts of children that exited stay counted, gauges of exited children
are dropped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import worker_process_shutdown, worker_ready, worker_shutdown
from prometheus_client import CollectorRegistry, multiprocess, start_http_server, values

from shared.settings import Settings

log = logging.getLogger(__name__)

_PREFIX = "worker-"


def prepare(settings: Settings) -> Path | None:
    """Give this worker an empty metrics directory and switch prometheus_client to it.

    Call it in the worker's main process before any metric is made, so the pool inherits it.
    Returns the directory, or None when `metrics_port` is 0 (no metrics).
    """
    if not settings.metrics_port:
        return None
    root = Path(tempfile.gettempdir()) / "newswire-metrics"
    directory = root / f"{_PREFIX}{os.getpid()}"
    shutil.rmtree(directory, ignore_errors=True)  # a crashed worker's files, same pid
    directory.mkdir(parents=True)
    _remove_dead_workers(root)
    # prometheus_client reads the directory from the environment, in every pool process.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    # It chose how to store values when first imported; choose again now the directory is set.
    values.ValueClass = values.get_value_class()
    return directory


def serve(app: Celery, settings: Settings, directory: Path | None) -> None:
    """Serve the merged metrics from the main process once the worker is ready."""
    if directory is None:
        return

    @worker_ready.connect(weak=False)
    def _serve(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not app:
            return
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(directory))
        try:
            start_http_server(settings.metrics_port, settings.metrics_host, registry=registry)
        except OSError as exc:  # the worker still builds; only its metrics are missing
            log.warning("cannot serve metrics on port %d: %s", settings.metrics_port, exc)
            return
        log.info("metrics on :%d/metrics", settings.metrics_port)

    @worker_process_shutdown.connect(weak=False)
    def _child_gone(pid: int | None = None, **_: Any) -> None:
        multiprocess.mark_process_dead(pid or os.getpid(), str(directory))

    @worker_shutdown.connect(weak=False)
    def _clean(**_: Any) -> None:
        shutil.rmtree(directory, ignore_errors=True)


def _remove_dead_workers(root: Path) -> None:
    """Remove the directories of workers that are gone (killed, so they never cleaned up)."""
    for directory in root.glob(f"{_PREFIX}*"):
        pid = directory.name.removeprefix(_PREFIX)
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(directory, ignore_errors=True)


def _alive(pid: int) -> bool:
    with contextlib.suppress(PermissionError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
    return True
