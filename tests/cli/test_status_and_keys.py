"""`newswire status` and `newswire keys`: what an operator reads, from real processes."""

from __future__ import annotations

import hashlib
import json
import re


def test_status_counts_articles_events_and_wakeups(newswire, write, seed_article, db):
    write(seed_article)
    db.zadd("nw:sweep", {"target:sitemap:news": 4_000_000_000_000})
    result = newswire("status")
    assert result.returncode == 0, result.stderr
    rows = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in result.stdout.splitlines())
    assert rows["articles (published or embargoed)"] == "1"
    assert rows["events in the stream"] == "1"
    assert rows["events read, not yet acknowledged"].startswith("no consumer group yet")
    assert rows["scheduled wakeups"].startswith("1 (next in ")


def test_a_new_key_is_shown_once_with_the_setting_that_adds_it(newswire):
    existing = {"a" * 64: "other"}
    result = newswire("keys", "new", "newsroom", NEWSWIRE_API_KEYS=json.dumps(existing))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    token = lines[1].strip()
    configured = json.loads(lines[3].strip().removeprefix("NEWSWIRE_API_KEYS='").rstrip("'"))
    assert configured == {**existing, hashlib.sha256(token.encode()).hexdigest(): "newsroom"}
    listed = newswire("keys", "list", NEWSWIRE_API_KEYS=json.dumps(configured))
    assert listed.stdout.splitlines() == sorted(
        f"{publisher}  sha256:{digest[:12]}…" for digest, publisher in configured.items()
    )
    assert "newswire keys new" in newswire("keys", "list").stdout  # none configured
