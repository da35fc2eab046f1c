"""A process imports only what it runs: ingest and the feeds service never load a renderer.

Both run as real processes with Python's import log on (`PYTHONPROFILEIMPORTTIME`), and are
put to work (an article written, a feed served, a WebSub subscription queued for the
workers) so that imports made lazily on a first request are in the log too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests

from devstack.redis_server import free_port
from devstack.services import Processes, wait_http
from shared.store.artifacts import encode
from shared.store.filesystem import FilesystemStore
from tests.conftest import API_KEY, API_KEYS

pytestmark = pytest.mark.processes

# What only the workers need: drawing cards, writing feeds, parsing XML, and Celery's worker
# (its app, pool and consumer). The renderers themselves are named too.
WORKER_ONLY = re.compile(
    r"^(PIL|feedgen|lxml|celery|billiard\.pool|services\.render\.(feed|sitemap|card|websub))"
    r"(\.|$)"
)
_IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)\s*$", re.MULTILINE)


def imported(log: str) -> set[str]:
    return set(_IMPORTED.findall(log))


def test_the_import_log_is_read(tmp_path: Path) -> None:
    # The check below is only as good as the parse of the log: it must see a real import.
    log = "import time:       542 |        542 |                   amqp.spec\n"
    assert imported(log) == {"amqp.spec"}


def test_ingest_and_feeds_never_import_a_renderer_or_the_worker(
    redis_url: str, tmp_path: Path, seed_article: dict
) -> None:
    ingest_port, feeds_port = free_port(), free_port()
    feeds = f"http://127.0.0.1:{feeds_port}"
    env = {
        "NEWSWIRE_REDIS_URL": redis_url,
        "NEWSWIRE_API_KEYS": json.dumps(API_KEYS),
        "NEWSWIRE_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "NEWSWIRE_INGEST_PORT": str(ingest_port),
        "NEWSWIRE_FEEDS_PORT": str(feeds_port),
        "NEWSWIRE_FEEDS_BASE_URL": feeds + "/",
        "NEWSWIRE_INGEST_WORKERS": "2",  # the workers are spawned: their imports count too
        "NEWSWIRE_FETCH_ALLOW_NETWORKS": '["127.0.0.2/32"]',  # stands in for a public host
        "PYTHONPROFILEIMPORTTIME": "1",
    }
    processes = Processes(env, tmp_path / "logs")
    try:
        for name in ("ingest", "feeds"):
            processes.start(name)
        wait_http(f"http://127.0.0.1:{ingest_port}/healthz", 30, processes.running["ingest"])
        wait_http(f"{feeds}/healthz", 30, processes.running["feeds"])

        put = requests.put(
            f"http://127.0.0.1:{ingest_port}/v1/articles/{seed_article['id']}",
            json=seed_article,
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=30,
        )
        assert put.status_code == 201, put.text
        # A feed published as a worker would, then served, then subscribed to: the hub
        # queues its verification for the workers.
        store = FilesystemStore(tmp_path / "artifacts")
        feed = encode("feeds/all.rss", b"<rss version='2.0'><channel/></rss>", 5)
        assert store.publish("feed:all", [feed], "1-0")
        assert requests.get(f"{feeds}/feeds/all.rss", timeout=30).status_code == 200
        subscribe = requests.post(
            f"{feeds}/websub",
            data={
                "hub.mode": "subscribe",
                "hub.topic": f"{feeds}/feeds/all.rss",
                "hub.callback": "http://127.0.0.2:8765/geri",
            },
            timeout=30,
        )
        assert subscribe.status_code == 202, subscribe.text
    finally:
        processes.stop_all()

    for name in ("ingest", "feeds"):
        modules = imported(processes.log(name))
        assert "shared.settings" in modules, f"{name}: no import log"
        loaded = sorted(m for m in modules if WORKER_ONLY.match(m))
        assert not loaded, f"{name} imported what only workers need: {loaded[:10]}"
    assert "shared.kinds.registry" in imported(processes.log("ingest"))  # the write-time half
    assert "kombu.messaging" in imported(processes.log("feeds"))  # it sends through kombu
