"""Crash: a worker killed with SIGKILL mid-build loses no build and never exposes a partial file."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest
import redis

from tests.conftest import DATA, Stack, make_stack, wait_until

pytestmark = pytest.mark.processes

SEED = json.loads((DATA / "corpus" / "seed-article.json").read_text())
SECTIONS = ["Dünya", "Gündem", "Yaşam", "Ekonomi", "Spor", "Kültür"]
SLUGS = ["dunya", "gundem", "yasam", "ekonomi", "spor", "kultur"]


@pytest.fixture
def crash_stack(tmp_path: Path, redis_url: str) -> Iterator[Stack]:
    stack = make_stack(tmp_path, redis_url)
    yield stack
    stack.stop()


def heavy_articles(count: int) -> list[dict]:
    # ~40 KB bodies make each build take long enough to be caught in the middle of one.
    body = "".join(f"<p>{SEED['summary']} {i}</p>" for i in range(300))
    return [
        {
            **SEED,
            "id": f"agir-{i}",
            "url": f"https://haber.example.com.tr/agir/{i}",
            "title": f"Ağır haber {i}",
            "section": SECTIONS[i % len(SECTIONS)],
            "tags": [f"etiket {i % 7}", "Rusya"],
            "body_html": body,
        }
        for i in range(count)
    ]


class Reader(threading.Thread):
    """Reads feeds over HTTP the whole time; records any response that is not whole."""

    def __init__(self, stack: Stack, paths: list[str]) -> None:
        super().__init__(daemon=True)
        self.stack, self.paths = stack, paths
        self.stop = threading.Event()
        self.reads, self.broken = 0, []

    def run(self) -> None:
        while not self.stop.is_set():
            for path in self.paths:
                # Uncompressed, so Content-Length counts the very bytes read.
                response = self.stack.feed(path, **{"Accept-Encoding": "identity"})
                if response.status_code != 200:
                    continue
                self.reads += 1
                if "content-encoding" in response.headers or len(response.content) != int(
                    response.headers.get("content-length", -1)
                ):
                    self.broken.append((path, "length"))
                if path.endswith(".json"):
                    try:
                        json.loads(response.content)
                    except ValueError:
                        self.broken.append((path, "json"))
                elif feedparser.parse(response.content).bozo:
                    self.broken.append((path, "xml"))


def test_killed_worker_mid_build_still_gets_the_feed_rebuilt(crash_stack: Stack):
    db = redis.Redis.from_url(crash_stack.env["NEWSWIRE_REDIS_URL"], decode_responses=True)
    paths = [f"feeds/sections/{slug}.{fmt}" for slug in SLUGS for fmt in ("rss", "json")]
    reader = Reader(crash_stack, [*paths, "feeds/all.atom", "feeds/tags/rusya.rss"])
    reader.start()
    articles = heavy_articles(60)
    for start in range(0, len(articles), 20):
        response = crash_stack.http.post(
            f"{crash_stack.ingest_url}/v1/articles:batch",
            json={"articles": articles[start : start + 20]},
        )
        assert response.status_code == 200

    def building() -> list[str]:
        return [k for k in db.scan_iter("nw:target:*") if db.hget(k, "state") == "building"]

    # A build can finish between seeing it and the kill; then aim again at the next one.
    held: list[str] = []
    for _attempt in range(5):
        wait_until(building, timeout=10, interval=0.002)
        crash_stack.processes.kill("worker")
        held = building()  # frozen now: nobody else finishes a dead worker's build
        crash_stack.restart_worker()
        if held:
            break
    assert held, "never caught the worker in the middle of a build"

    def settled() -> bool:
        states = [db.hgetall(k) for k in db.scan_iter("nw:target:*")]
        return all(s.get("want") == s.get("done") for s in states)

    # A lost build is requeued once its lease runs out, after a worker's restart: seconds;
    # waited for many times that.
    wait_until(settled, timeout=90, interval=0.2)
    reader.stop.set()
    reader.join(timeout=10)
    for slug, section in zip(SLUGS, SECTIONS, strict=True):
        expected = {a["title"] for a in articles if a["section"] == section}
        parsed = feedparser.parse(crash_stack.feed(f"feeds/sections/{slug}.rss").content)
        assert {e.title for e in parsed.entries} == expected
    assert reader.reads > 0
    assert reader.broken == []
