"""`newswire status` and `newswire keys`: what an operator reads. A key is created by a real
process; the rest runs the command's `main` in this process, with the same environment."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
from collections.abc import Callable
from datetime import datetime

import pytest
import redis
import requests

from services.ingest.app import create_app
from tests.conftest import live_server

pytestmark = pytest.mark.processes

REFUSAL_DEADLINE_S = 30.0  # for a refusal that must come: many times what it takes


def test_status_counts_articles_events_and_wakeups(newswire_in_process, write, seed_article, db):
    write(seed_article)
    db.zadd("nw:sweep", {"target:sitemap:news": 4_000_000_000_000})
    result = newswire_in_process("status")
    assert result.returncode == 0, result.stderr
    rows = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in result.stdout.splitlines())
    assert rows["articles (published or embargoed)"] == "1"
    assert rows["events in the stream"] == "1"
    assert rows["events read, not yet acknowledged"].startswith("no consumer group yet")
    assert rows["scheduled wakeups"].startswith("1 (next in ")


def all_of_redis(db: redis.Redis) -> str:
    """Every key name and value in the database, as one string to search."""
    readers: dict[str, Callable[[str], object]] = {
        "string": db.get,
        "hash": db.hgetall,
        "set": db.smembers,
        "zset": lambda name: db.zrange(name, 0, -1, withscores=True),
        "list": lambda name: db.lrange(name, 0, -1),
        "stream": db.xrange,
    }
    return "\n".join(f"{name} {readers[db.type(name)](name)!r}" for name in db.scan_iter())


def created_token(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "shown only now" in result.stdout
    return result.stdout.splitlines()[1].strip()


def test_create_shows_the_secret_once_and_stores_only_its_hash(newswire, newswire_in_process, db):
    token = created_token(newswire("keys", "create", "newsroom"))  # as an operator runs it
    digest = hashlib.sha256(token.encode()).hexdigest()
    stored = db.hgetall(f"nw:apikey:{digest}")
    assert stored["publisher"] == "newsroom"
    assert stored["scopes"] == "articles:write"
    assert datetime.fromisoformat(stored["created"]).tzinfo is not None
    assert stored["revoked"] == ""
    assert db.smembers("nw:apikeys") == {digest}
    assert token not in all_of_redis(db)
    assert digest in all_of_redis(db)
    # `new` is the older name of `create`; scopes repeat.
    admin = created_token(
        newswire_in_process("keys", "new", "ops", "--scope", "admin", "--scope", "articles:write")
    )
    admin_digest = hashlib.sha256(admin.encode()).hexdigest()
    assert db.hget(f"nw:apikey:{admin_digest}", "scopes") == "articles:write admin"
    listed = newswire_in_process("keys", "list").stdout
    assert token not in listed and admin not in listed and token not in all_of_redis(db)
    refused = newswire_in_process("keys", "create", "newsroom", "--scope", "root")
    assert refused.returncode == 2 and "invalid choice: 'root'" in refused.stderr


def test_list_shows_publisher_scopes_created_and_revoked(newswire_in_process, db):
    none_yet = newswire_in_process("keys", "list").stdout
    assert "newswire keys create" in none_yet
    configured = {"a" * 64: "archive"}
    writer = created_token(newswire_in_process("keys", "create", "newsroom"))
    admin = created_token(newswire_in_process("keys", "create", "ops", "--scope", "admin"))
    writer_id = hashlib.sha256(writer.encode()).hexdigest()[:12]
    admin_id = hashlib.sha256(admin.encode()).hexdigest()[:12]
    revoked = newswire_in_process("keys", "revoke", writer_id)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.startswith(f"API key {writer_id} of newsroom revoked at ")

    result = newswire_in_process("keys", "list", NEWSWIRE_API_KEYS=json.dumps(configured))
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split() == ["ID", "PUBLISHER", "SCOPES", "CREATED", "REVOKED"]
    rows = {line.split()[0]: line.split() for line in lines}
    assert rows["a" * 12] == ["a" * 12, "archive", "articles:write", "(NEWSWIRE_API_KEYS)", "-"]
    _, publisher, scopes, created, revoked_at = rows[writer_id]
    assert (publisher, scopes) == ("newsroom", "articles:write")
    assert datetime.fromisoformat(created) <= datetime.fromisoformat(revoked_at)
    assert rows[admin_id][1:3] == ["ops", "admin"] and rows[admin_id][4] == "-"
    assert list(rows) == ["a" * 12, writer_id, admin_id]  # configured, then oldest first


def test_revoke_refuses_a_running_server(newswire_in_process, settings, seed_article):
    token = created_token(newswire_in_process("keys", "create", "newsroom"))
    key_id = hashlib.sha256(token.encode()).hexdigest()[:12]
    headers = {"Authorization": f"Bearer {token}"}
    with live_server(create_app(settings)) as ingest:
        url = f"{ingest}/v1/articles/{seed_article['id']}"
        assert requests.put(url, json=seed_article, headers=headers).status_code == 201
        assert requests.get(url, headers=headers).status_code == 200
        result = newswire_in_process("keys", "revoke", key_id)
        done = time.monotonic()
        assert result.returncode == 0, result.stderr
        # No restart: the server sees the revocation by itself (how soon is ingest's cache
        # time, tested on a clock of its own in tests/ingest/test_authorization.py).
        while (response := requests.get(url, headers=headers)).status_code == 200:
            assert time.monotonic() - done < REFUSAL_DEADLINE_S, "the revoked key still works"
            time.sleep(0.005)
        waited = time.monotonic() - done
        print(
            f"`newswire keys revoke` returned; ingest refused the key {waited * 1000:.0f} ms later"
        )
        assert response.status_code == 401
    again = newswire_in_process("keys", "revoke", key_id)
    assert again.returncode == 0 and again.stdout == result.stdout  # the first time is kept


def test_revoke_names_exactly_one_stored_key(newswire_in_process, db):
    for digest in ("abcdef" + "0" * 58, "abcdef" + "1" * 58):
        db.hset(f"nw:apikey:{digest}", mapping={"publisher": "p", "scopes": "articles:write"})
        db.sadd("nw:apikeys", digest)
    configured = {"c" * 64: "archive"}
    cases = {
        "abcdef": "names several keys (abcdef000000, abcdef111111): give more digits",
        "abc": "at least 6 hex digits",
        "not-hex!": "at least 6 hex digits",
        "0123456789": "no key 0123456789: `newswire keys list` shows the ids",
        "cccccccc": "configured in NEWSWIRE_API_KEYS: remove it there and restart ingest",
    }
    for ref, says in cases.items():
        result = newswire_in_process(
            "keys", "revoke", ref, NEWSWIRE_API_KEYS=json.dumps(configured)
        )
        assert result.returncode == 2 and says in result.stderr, (ref, result.stderr)
    assert db.hget("nw:apikey:abcdef" + "0" * 58, "revoked") is None
    assert newswire_in_process("keys", "revoke", "ABCDEF0").returncode == 0
    assert db.hget("nw:apikey:abcdef" + "0" * 58, "revoked")
    assert db.hget("nw:apikey:abcdef" + "1" * 58, "revoked") is None
