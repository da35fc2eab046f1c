"""`newswire status` run where `make run` runs: it finds the stack through var/newswire.env
(the environment wins), names the Redis it reads, says where an unreachable one came from;
`--json` says what the screen says; `--watch` redraws until Ctrl-C; and its dead-letter
count is what `newswire dead-letters` lists."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import redis

from devstack.redis_server import free_port
from services.cli.__main__ import main
from services.cli.status import CLEAR
from services.render.pipeline.coordinator import Coordinator
from services.render.pipeline.dispatcher import Dispatcher
from shared.kinds.registry import Registry
from shared.priorities import NAMES
from shared.settings import Settings
from shared.state import redis_keys
from shared.state.dead_letters import DeadLetters
from shared.websub import DEAD as WEBSUB_DEAD
from tests.cli.conftest import environment
from tests.conftest import Databases, database, wait_until

pytestmark = pytest.mark.processes


def stack_file(root: Path, **values: str) -> Path:
    """var/newswire.env under `root`, as `make run` writes it: NAME=value lines, unquoted."""
    (root / "var").mkdir(exist_ok=True)
    path = root / "var" / "newswire.env"
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return path


def newswire_here(
    monkeypatch: pytest.MonkeyPatch, cwd: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """`newswire ARGS…` through `main` in this process, run in `cwd` with no NEWSWIRE_
    variable but `env`."""
    out, err = io.StringIO(), io.StringIO()
    with monkeypatch.context() as patch:
        patch.chdir(cwd)
        for name in [k for k in os.environ if k.startswith("NEWSWIRE_")]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    return subprocess.CompletedProcess(["newswire", *args], code, out.getvalue(), err.getvalue())


def rows(lines: list[str]) -> dict[str, list[str]]:
    """Label → values; a line with no label goes on with the value above (a long URL or
    warning wraps), joined by a space."""
    found: dict[str, list[str]] = {}
    last = ""
    for line in lines:
        label, value = re.split(r"\s{2,}", line, maxsplit=1)
        if label:
            found.setdefault(label, []).append(value)
            last = label
        else:
            found[last][-1] += " " + value
    return found


def test_status_reads_the_stack_in_var_newswire_env_and_the_environment_wins(
    settings, databases: Databases, write, seed_article, tmp_path, monkeypatch
):
    write(seed_article)
    stack_file(
        tmp_path,
        NEWSWIRE_REDIS_URL=settings.redis_url,
        NEWSWIRE_ARTIFACT_DIR=str(tmp_path / "var" / "artifacts"),
        NEWSWIRE_INGEST_PORT="18000",
        PYTHONUNBUFFERED="1",  # not a setting: passed over
    )
    # As an operator runs it in the checkout, in a second terminal, with nothing set.
    bare = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "status"],
        cwd=tmp_path,
        env=bare,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("redis ")
    assert rows(lines)["redis"] == [f"{settings.redis_url} (from var/newswire.env)"]
    assert rows(lines)["articles (published or embargoed)"] == ["1"]
    assert "settings from var/newswire.env" in result.stderr

    as_json = json.loads(newswire_here(monkeypatch, tmp_path, "status", "--json").stdout)
    assert as_json["redis"] == {"url": settings.redis_url, "from": "var/newswire.env"}
    assert as_json["articles"] == 1

    with database(databases) as other:  # the environment names another Redis: it wins
        here = newswire_here(monkeypatch, tmp_path, "status", NEWSWIRE_REDIS_URL=other)
        assert here.returncode == 0, here.stderr
        lines = here.stdout.splitlines()
        assert rows(lines)["redis"] == [f"{other} (from the environment)"]
        assert rows(lines)["articles (published or embargoed)"] == ["0"]


def test_an_unreachable_redis_is_named_with_where_it_came_from(tmp_path, monkeypatch):
    socket = tmp_path / "var" / "redis.sock"  # a stack that was killed left its file
    stack_file(tmp_path, NEWSWIRE_REDIS_URL=f"unix://{socket}")
    for command in (["status"], ["keys", "list"]):
        result = newswire_here(monkeypatch, tmp_path, *command)
        assert result.returncode == 2
        said = " ".join(result.stderr.split())
        assert f"cannot reach Redis at unix://{socket} (from var/newswire.env)" in said
        assert "Is `make run` still running in this checkout?" in said
        assert "set NEWSWIRE_REDIS_URL" in said

    port = free_port()  # nothing listens there
    result = newswire_here(
        monkeypatch, tmp_path, "status", NEWSWIRE_REDIS_URL=f"redis://:s3cret@127.0.0.1:{port}/0"
    )
    assert result.returncode == 2
    assert f"redis://:***@127.0.0.1:{port}/0 (from NEWSWIRE_REDIS_URL in the environment)" in (
        result.stderr
    )
    assert "s3cret" not in result.stderr


def live_dispatcher(settings: Settings, name: str) -> Dispatcher:
    """A dispatcher in this process (what it queues is dropped), its group made."""
    client = redis.Redis.from_url(settings.redis_url)
    registry = Registry.from_settings(settings)
    dispatcher = Dispatcher(
        client, Coordinator(client, settings), lambda _target: None, settings, name, registry
    )
    dispatcher.ensure_group()
    return dispatcher


def test_status_json_says_what_the_screen_says(
    newswire_in_process, settings, write, seed_article, corpus, db
):
    write(seed_article)
    live_dispatcher(settings, "d1").step(block_ms=10)
    write(corpus[1])  # not read yet: lag 1
    db.zadd(redis_keys.SWEEP, {"target:sitemap:news": 4_000_000_000_000})
    DeadLetters(redis.Redis.from_url(settings.redis_url)).park_build(
        "feed:tag:nato", 5, RuntimeError("no font")
    )
    screen = newswire_in_process("status")
    as_json = newswire_in_process("status", "--json")
    assert screen.returncode == 0 and as_json.returncode == 0, screen.stderr + as_json.stderr
    shown, got = rows(screen.stdout.splitlines()), json.loads(as_json.stdout)
    print(screen.stdout, json.dumps(got, indent=2), sep="\n")

    assert shown["articles (published or embargoed)"] == [str(got["articles"])] == ["2"]
    events = got["events"]
    assert shown["events in the stream"] == [str(events["in_stream"])] == ["2"]
    assert shown["events not yet read (lag)"][0].startswith(f"{events['lag']} (the oldest")
    assert events["lag"] == 1
    assert shown["events read, not yet acknowledged"] == [str(events["read_not_acknowledged"])]
    [d1] = got["dispatchers"]
    assert (d1["name"], d1["pending"], d1["gone"]) == ("d1", 0, False)
    assert shown["dispatcher d1"][0].startswith("0 pending, ")
    for queue, depth in got["queues"].items():
        split = ", ".join(f"{NAMES[int(p)]} {n}" for p, n in depth["by_priority"].items())
        assert shown[f"queue {queue}"] == [f"{depth['waiting']} waiting ({split})"]
    assert shown["tasks taken by workers"] == [str(got["tasks_taken_by_workers"])]
    targets = ", ".join(f"{state} {n}" for state, n in got["targets"].items())
    assert shown["targets"] == [targets]
    assert shown["builds finished"] == [str(got["builds_finished"])]
    assert shown["scheduled wakeups"][0].startswith(f"{got['wakeups']['scheduled']} (next in ")
    assert got["wakeups"]["scheduled"] == 1 and got["wakeups"]["next_in_s"] > 0
    dead = got["dead_letters"]
    assert shown["dead letters"] == [
        f"{dead['total']} (builds {dead['builds']}, articles {dead['articles']}, "
        f"websub {dead['websub']})"
    ]
    assert (dead["total"], dead["builds"]) == (1, 1)
    assert [d["what"] for d in dead["newest"]] == ["feed:tag:nato"]
    assert shown["dead letter"][0].endswith("build feed:tag:nato: no font")
    assert shown["WARNING"] == got["warnings"]
    assert "there are dead letters: `newswire dead-letters` says why" in got["warnings"]
    assert shown["redis"] == [f"{settings.redis_url} (from the environment)"]
    assert got["redis"] == {"url": settings.redis_url, "from": "environment"}
    assert got["server"]["name"] == "valkey" and shown["server"][0].startswith("valkey ")
    never = newswire_in_process("status", "--watch", "0")
    assert never.returncode == 2 and "--watch takes a number of seconds above 0" in never.stderr


def test_watch_redraws_until_ctrl_c(settings, elsewhere):
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "status", "--watch", "0.2"],
        cwd=elsewhere,
        env=environment(settings, {}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    drawn: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            drawn.append(line)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        # Two screens drawn in full: a third has begun.
        wait_until(lambda: "".join(drawn).count(CLEAR) >= 3, timeout=60, interval=0.05)
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
        reader.join(timeout=30)
    out = "".join(drawn)
    screens = out.split(CLEAR)[1:]
    assert code == 0, process.stderr.read()
    assert "Traceback" not in process.stderr.read()
    for screen in screens[:2]:
        assert screen.startswith("redis ")
        assert "scheduled wakeups" in screen and "Ctrl-C stops" in screen


def test_the_dead_letter_count_is_what_dead_letters_lists(
    newswire_in_process, settings, write, retract, corpus, db
):
    kept, rewritten, retracted = corpus[:3]
    for article in (kept, rewritten, retracted):
        write(article)
    letters = DeadLetters(redis.Redis.from_url(settings.redis_url))

    def park(article: dict[str, Any]) -> None:
        digest = db.hget(redis_keys.article(article["id"]), "hash")
        letters.park_article(article["id"], digest, ValueError("bad body"))

    for article in (kept, rewritten, retracted):
        park(article)
    letters.park_article("gone-since", "0" * 16, ValueError("bad body"))  # no such article
    letters.park_build("feed:tag:nato", 5, RuntimeError("no font"))
    db.lpush(
        WEBSUB_DEAD,
        json.dumps(
            {
                "topic": "https://feeds.example/feeds/all.rss",
                "callback": "https://reader.example/cb",
                "attempts": 4,
                "reason": "HTTP 500",
                "at": 1.0,
            }
        ),
    )
    # Their revisions go: these letters are stale, for status and the listing alike.
    later = {**rewritten, "title": rewritten["title"] + " (güncellendi)"}
    later["updated_at"] = "2026-02-01T10:00:00+03:00"
    assert write(later).status == "updated"
    assert retract(retracted["id"]).status == "retracted"

    def status_count() -> str:
        result = newswire_in_process("status")
        assert result.returncode == 0, result.stderr
        return rows(result.stdout.splitlines())["dead letters"][0]

    assert status_count() == "3 (builds 1, articles 1, websub 1)"
    assert db.hlen(redis_keys.DEAD_ARTICLES) == 4, "status writes nothing"
    listed = newswire_in_process("dead-letters")
    assert listed.returncode == 0, listed.stderr
    print(listed.stdout)
    assert re.findall(r"  article  (\S+)  ", listed.stdout) == [kept["id"]]
    assert re.findall(r"  build  (\S+)  ", listed.stdout) == ["feed:tag:nato"]
    assert "1 unreadable articles" in listed.stdout and "1 parked builds" in listed.stdout
    assert "1 WebSub deliveries given up on" in listed.stdout
    assert status_count() == "3 (builds 1, articles 1, websub 1)"  # the same, once dropped
    assert db.hlen(redis_keys.DEAD_ARTICLES) == 1
    short = newswire_in_process("dead-letters", "--limit", "1")
    assert "1 unreadable articles" in short.stdout  # within the limit: all of them
