"""`newswire status` against the real dispatcher and worker: every section on one 80-column
screen, and what a stopped dispatcher or stopped workers look like."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import redis

from tests.cli.conftest import Newswire, Pipeline, running_pipeline
from tests.conftest import Databases, load_corpus, wait_until

pytestmark = pytest.mark.processes

# How long a stopped dispatcher or worker goes unseen before status warns (30 s by default).
STALE_S = 3


@pytest.fixture(scope="module")
def pipeline(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """One pipeline for the module: each test stores articles of its own, and the one that
    stops processes comes last."""
    with running_pipeline(
        databases,
        tmp_path_factory.mktemp("status"),
        NEWSWIRE_CARD_RECENT_DAYS="0",
        NEWSWIRE_STATUS_STALE_S=str(STALE_S),
    ) as running:
        yield running


def status(pipeline: Pipeline, newswire: Newswire) -> list[str]:
    """What `newswire status` prints, run by `newswire` with the pipeline's settings."""
    result = newswire("status", **pipeline.env)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def rows(lines: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in lines:
        label, value = re.split(r"\s{2,}", line, maxsplit=1)
        found.setdefault(label, []).append(value)
    return found


def test_status_shows_every_section_within_80_columns(pipeline, newswire, write):
    articles = load_corpus()[:2]
    for article in articles:
        assert write(article, using=pipeline.settings).status == "created"
    pipeline.wait_idle(timeout=60)
    lines = status(pipeline, newswire)  # as an operator runs it: a process of its own
    print("\n".join(lines))
    assert len(lines) <= 40, "one screen"
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    shown = rows(lines)
    assert shown["server"][0].startswith(("valkey ", "redis "))
    assert shown["articles (published or embargoed)"] == ["2"]
    # Two articles, plus the follow-up events builds add (the index page, the sitemap index).
    events = redis.Redis.from_url(pipeline.settings.redis_url).xrange("nw:events")
    assert shown["events in the stream"] == [str(len(events))]
    assert sum(fields[b"type"].startswith(b"article.") for _, fields in events) == 2
    assert shown["events not yet read (lag)"] == ["0"]
    assert shown["events read, not yet acknowledged"] == ["0"]
    top = " ".join(lines[:2]).split()  # the Redis read, on one line or (if long) two
    assert top[:2] == ["redis", pipeline.settings.redis_url]
    assert "(from the environment)" in " ".join(top)
    [reader] = [label for label in shown if label.startswith("dispatcher ")]
    # Not known while the server's first seconds (when it stamps replayed consumers) are near.
    assert re.fullmatch(r"0 pending, last event read (\d+\.\d s ago|not known)", shown[reader][0])
    for queue in ("feeds", "sitemaps", "cards", "websub"):
        assert shown[f"queue {queue}"] == ["0 waiting (urgent 0, promoted 0, routine 0)"]
    assert shown["tasks taken by workers"] == ["0"]
    assert shown["targets"] == ["queued 0, building 0, cooling 0, retrying 0"]
    assert int(shown["builds finished"][0]) > 0
    for kind in ("feed", "sitemap", "card"):
        assert re.match(r"published \d+\.\d s ago, " + kind + ":", shown[f"last {kind} build"][0])
    assert shown["dead letters"] == ["0 (builds 0, articles 0, websub 0)"]
    assert "WARNING" not in shown


def test_status_flags_a_stopped_dispatcher_and_stopped_workers(
    pipeline, newswire_in_process, write
):
    # Polled until it warns: through `main` in this process, not a process per look.
    here = newswire_in_process
    first, second = load_corpus()[2:4]
    assert write(first, using=pipeline.settings).status == "created"
    pipeline.wait_idle(timeout=60)
    pipeline.processes.kill("worker")  # feeds and sitemaps now wait in their queues
    assert write(second, using=pipeline.settings).status == "created"
    wait_until(lambda: not rows(status(pipeline, here))["queue feeds"][0].startswith("0 "), 30, 0.1)
    pipeline.processes.kill("dispatcher")
    changed = {**first, "title": first["title"] + " (güncellendi)"}
    changed["updated_at"] = "2026-01-19T10:00:00+03:00"
    assert write(changed, using=pipeline.settings).status == "updated"

    def warned() -> list[str] | None:
        lines = status(pipeline, here)
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
