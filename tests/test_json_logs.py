"""`NEWSWIRE_LOG_FORMAT=json`: every process writes one JSON object a line, the servers' and
Celery's own lines included, with the request, article and target each line is about; plain
text stays the default.

One compact stack runs in JSON mode: an article is written, refused to another publisher,
and built into its feed; then every process's log is read, every line parsed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.services import ROOT, Processes
from tests.conftest import OTHER_API_KEY, Databases, database, running_stack, wait_until

pytestmark = pytest.mark.processes

REQUEST_ID = "json-logs-refused-1"
REQUIRED = {"time", "level", "logger", "message"}


def entries(log: str, name: str) -> list[dict[str, Any]]:
    """Every non-empty line of `log` as a JSON object with the fields every line has."""
    found = []
    for number, line in enumerate(log.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"{name}: line {number} is not JSON: {line!r}")
        assert isinstance(entry, dict) and entry.keys() >= REQUIRED, (name, line)
        when = datetime.fromisoformat(entry["time"].replace("Z", "+00:00"))
        assert when.utcoffset() == timedelta(0), (name, line)
        found.append(entry)
    return found


def one(found: list[dict[str, Any]], logger: str, text: str) -> dict[str, Any]:
    """The first line of `logger` whose message holds `text`."""
    matches = [e for e in found if e["logger"] == logger and text in e["message"]]
    assert matches, f"no {logger} line with {text!r} in {[e['message'] for e in found]}"
    return matches[0]


def test_every_process_logs_json_lines(
    databases: Databases, tmp_path: Path, seed_article: dict[str, Any]
) -> None:
    article_id = seed_article["id"]
    with running_stack(databases, tmp_path, NEWSWIRE_LOG_FORMAT="json") as stack:
        names = set(stack.processes.running)
        assert stack.put(seed_article).status_code == 201
        # Another publisher's write is refused and logged, by the request that asked.
        refused = requests.put(
            f"{stack.ingest_url}/v1/articles/{article_id}",
            json=seed_article,
            headers={"Authorization": f"Bearer {OTHER_API_KEY}", "X-Request-Id": REQUEST_ID},
            timeout=10,
        )
        assert refused.status_code == 409

        def in_feed() -> bool:
            served = stack.feed("feeds/sections/dunya.json")
            return served.ok and any(i["id"].endswith(article_id) for i in served.json()["items"])

        # A build takes well under a second: wait many times that.
        wait_until(in_feed, timeout=30)
        stack.wait_idle()
        # Read while it runs: at exit granian's Rust runtime may write a report of its own
        # (a panic), which no logging configuration reaches.
        feeds_log = stack.processes.log("feeds")
    # The others after they stopped: their shutdown lines are JSON too.
    logs = {name: stack.processes.log(name) for name in names - {"feeds"}}
    logs["feeds"] = feeds_log
    found = {name: entries(log, name) for name, log in logs.items()}

    ingest = found["ingest"]
    assert one(ingest, "uvicorn.error", "Application startup complete")
    line = one(ingest, "services.ingest.audited_writer", "refused")
    assert (line["request_id"], line["article_id"]) == (REQUEST_ID, article_id)
    # Access logs stay off.
    assert not [e for e in ingest if e["logger"] == "uvicorn.access"]

    worker = found["worker"]
    assert "[queues]" in one(worker, "celery.apps.worker", "[config]")["message"]  # the banner
    assert one(worker, "celery.apps.worker", "ready.")
    built = one(worker, "services.render.pipeline.builds", "built feed:section:dunya")
    assert built["target"] == "feed:section:dunya"
    succeeded = [
        e for e in worker if e["logger"] == "celery.app.trace" and "succeeded" in e["message"]
    ]
    # A task's lines name its targets (an event's feeds share a task).
    assert "feed:section:dunya" in {t for e in succeeded for t in e.get("target", "").split(",")}
    assert one(worker, "celery.apps.worker", "Warm shutdown")

    assert one(found["dispatcher"], "newswire.dispatcher", "dispatching")
    assert one(found["feeds"], "_granian", "experimental")  # granian's own warning


def test_python_itself_logs_json_lines() -> None:
    """Warnings and exceptions nothing caught (in the main thread, another thread, and a
    finalizer) are logged lines too, not tracebacks on stderr."""
    script = textwrap.dedent(
        """
        import gc, threading, warnings
        from shared.log_format import configure_logging
        from shared.settings import Settings

        configure_logging(Settings())
        warnings.warn("eski ayar: şimdi NEWSWIRE_LOG_FORMAT")
        thread = threading.Thread(target=lambda: 1 / 0, name="yardımcı")
        thread.start()
        thread.join()

        class Broken:
            def __del__(self):
                raise RuntimeError("kapanışta hata")

        Broken()
        gc.collect()
        raise KeyError("son")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "NEWSWIRE_LOG_FORMAT": "json"},
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == b""
    found = entries(done.stderr.decode(), "python")
    warning, thread, finalizer, main = found
    assert warning["logger"] == "py.warnings" and "eski ayar: şimdi" in warning["message"]
    assert "yardımcı" in thread["message"] and "ZeroDivisionError" in thread["exc_info"]
    assert "RuntimeError: kapanışta hata" in finalizer["exc_info"]
    assert main["level"] == "CRITICAL" and "KeyError: 'son'" in main["exc_info"]


def test_plain_text_is_the_default(
    databases: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEWSWIRE_LOG_FORMAT", raising=False)  # the default, whatever is set here
    with database(databases) as url:
        processes = Processes({"NEWSWIRE_REDIS_URL": url}, tmp_path / "logs")
        processes.start("dispatcher")
        try:
            wait_until(lambda: "dispatching" in processes.log("dispatcher"), timeout=30)
        finally:
            processes.stop_all()
    log = processes.log("dispatcher")
    line = next(line for line in log.splitlines() if "dispatching" in line)
    # e.g. "2026-01-18 11:42:00,123 INFO newswire.dispatcher dispatching nw:events as ..."
    day, clock, level, logger, message = line.split(" ", 4)
    datetime.strptime(f"{day} {clock}", "%Y-%m-%d %H:%M:%S,%f")
    assert (level, logger) == ("INFO", "newswire.dispatcher")
    assert message.startswith("dispatching nw:events")
    assert not any(line.startswith("{") for line in log.splitlines())
