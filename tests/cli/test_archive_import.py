"""`newswire import`: the API's validation and atomic write, line by line, with progress.

The first test runs the command as operators do, a process of its own; the others call its
`main` in this process, with the same environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.redis_server import free_port

pytestmark = pytest.mark.processes


def archive(tmp_path: Path, corpus: list[dict], extra: list[str]) -> Path:
    lines = [json.dumps(article, ensure_ascii=False) for article in corpus[:3]] + extra
    path = tmp_path / "archive.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_valid_lines_are_stored_and_bad_ones_named_by_line(newswire, tmp_path, corpus, db):
    naive = {**corpus[3], "published_at": "2026-01-18T10:05:00"}  # no offset
    path = archive(tmp_path, corpus, ["{not json", "", json.dumps(naive)])
    result = newswire("import", str(path), "--publisher", "newsroom")
    assert result.returncode == 1
    assert "line 4: not valid JSON" in result.stderr
    assert "line 6: published_at: Input should have timezone info" in result.stderr
    assert "fix the lines named above" in result.stderr
    assert "import: 100%" in result.stderr  # the progress bar, with its count and rate
    assert "3 created" in result.stdout
    assert "2 invalid lines skipped" in result.stdout
    for article in corpus[:3]:
        stored = db.hgetall(f"nw:article:{article['id']}")
        assert stored["publisher"] == "newsroom"
        assert json.loads(stored["doc"])["title"] == article["title"]
    assert not db.exists(f"nw:article:{corpus[3]['id']}")  # nothing half-stored
    assert db.xlen("nw:events") == 3


def test_importing_again_changes_nothing(newswire_in_process, tmp_path, corpus, db):
    path = archive(tmp_path, corpus, [])
    assert newswire_in_process("import", str(path), "--publisher", "newsroom").returncode == 0
    again = newswire_in_process("import", str(path), "--publisher", "newsroom")
    assert again.returncode == 0
    assert "3 unchanged" in again.stdout
    assert db.xlen("nw:events") == 3


def test_another_publishers_articles_are_not_overwritten(
    newswire_in_process, tmp_path, corpus, write
):
    write(corpus[0], publisher="other")
    result = newswire_in_process(
        "import", str(archive(tmp_path, corpus, [])), "--publisher", "newsroom"
    )
    assert "1 forbidden" in result.stdout
    assert "2 created" in result.stdout


def test_errors_say_what_to_do(newswire_in_process, tmp_path, corpus):
    missing = newswire_in_process(
        "import", str(tmp_path / "nope.ndjson"), "--publisher", "newsroom"
    )
    assert missing.returncode == 2
    assert "no such file" in missing.stderr
    path = archive(tmp_path, corpus, [])
    down = newswire_in_process(
        "import",
        str(path),
        "--publisher",
        "newsroom",
        NEWSWIRE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    assert down.returncode == 2
    assert "cannot reach Redis" in down.stderr
    assert "NEWSWIRE_REDIS_URL" in down.stderr
