"""`newswire status` against a real stack: every section on one 80-column screen, and what a
stopped dispatcher or stopped workers look like."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
import redis

from devstack.stack import Stack
from tests.conftest import load_corpus, make_stack, wait_until

pytestmark = pytest.mark.processes

# How long a stopped dispatcher or worker goes unseen before status warns (30 s by default).
STALE_S = 3


@pytest.fixture
def stack(tmp_path, redis_url) -> Iterator[Stack]:
    running = make_stack(
        tmp_path, redis_url, NEWSWIRE_CARD_RECENT_DAYS="0", NEWSWIRE_STATUS_STALE_S=str(STALE_S)
    )
    yield running
    running.stop()


def status(stack: Stack) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "status"],
        env={**env, **stack.env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def rows(lines: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in lines:
        label, value = re.split(r"\s{2,}", line, maxsplit=1)
        found.setdefault(label, []).append(value)
    return found


def test_status_shows_every_section_within_80_columns(stack):
    articles = load_corpus()[:2]
    for article in articles:
        assert stack.put(article).status_code == 201
    stack.wait_idle(timeout=60)
    lines = status(stack)
    print("\n".join(lines))
    assert len(lines) <= 40, "one screen"
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    shown = rows(lines)
    assert shown["server"][0].startswith(("valkey ", "redis "))
    assert shown["articles (published or embargoed)"] == ["2"]
    # Two articles, plus the follow-up events builds add (the index page, the sitemap index).
    events = redis.Redis.from_url(stack.env["NEWSWIRE_REDIS_URL"]).xrange("nw:events")
    assert shown["events in the stream"] == [str(len(events))]
    assert sum(fields[b"type"].startswith(b"article.") for _, fields in events) == 2
    assert shown["events not yet read (lag)"] == ["0"]
    assert shown["events read, not yet acknowledged"] == ["0"]
    [reader] = [label for label in shown if label.startswith("dispatcher ")]
    assert re.fullmatch(r"0 pending, last read \d+\.\d s ago", shown[reader][0])
    for queue in ("feeds", "sitemaps", "cards", "websub"):
        assert shown[f"queue {queue}"] == ["0 waiting (priority 0: 0, priority 6: 0)"]
    assert shown["tasks taken by workers"] == ["0"]
    assert shown["targets"] == ["queued 0, building 0, cooling 0, retrying 0"]
    assert int(shown["builds finished"][0]) > 0
    for kind in ("feed", "sitemap", "card"):
        assert re.match(r"published \d+\.\d s ago, " + kind + ":", shown[f"last {kind} build"][0])
    assert shown["dead letters"] == ["0 (builds 0, articles 0, websub 0)"]
    assert "WARNING" not in shown


def test_status_flags_a_stopped_dispatcher_and_stopped_workers(stack):
    first, second = load_corpus()[:2]
    assert stack.put(first).status_code == 201
    stack.wait_idle(timeout=60)
    stack.processes.kill("worker")  # feeds and sitemaps now wait in their queues
    assert stack.put(second).status_code == 201
    wait_until(lambda: not rows(status(stack))["queue feeds"][0].startswith("0 "), timeout=10)
    stack.processes.kill("dispatcher")
    changed = {**first, "title": first["title"] + " (güncellendi)"}
    changed["updated_at"] = "2026-01-19T10:00:00+03:00"
    assert stack.put(changed).json()["status"] == "updated"

    def warned() -> list[str] | None:
        lines = status(stack)
        text = " ".join(line.strip() for line in lines)
        return lines if f"no consumer read in {STALE_S} s" in text else None

    lines = wait_until(warned, timeout=10 * STALE_S + 30, interval=0.5)
    print("\n".join(lines))
    assert all(len(line) <= 80 for line in lines)
    text = re.sub(r"\s+", " ", " ".join(lines))
    assert "is the dispatcher running? `make run` / `docker compose up dispatcher`" in text
    assert re.search(rf"\d+ builds wait on feeds and none finished in {STALE_S} s", text)
    assert "`docker compose up worker`" in text
    shown = rows(lines)
    assert re.fullmatch(
        r"1 \(the oldest from \d+\.\d s ago\)", shown["events not yet read (lag)"][0]
    )
