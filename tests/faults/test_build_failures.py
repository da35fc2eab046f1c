"""Failed builds: retried with backoff, parked as dead letters, re-driven; an unreadable
article is left out of its feeds instead of freezing them. Real Redis, workers and CLI."""

from __future__ import annotations

import json
import time

import feedparser
import pytest

from tests.conftest import Stack, wait_until
from tests.faults.conftest import newswire, owe
from tests.faults.fault_kind import plan_key

pytestmark = pytest.mark.processes

SEED = {
    "url": "https://haber.example.com.tr/dunya/",
    "summary": "Kremlin Sözcüsü Peskov açıklama yaptı.",
    "section": "Dünya",
    "published_at": "2026-01-18T11:42:00+03:00",
}
# For what takes a few seconds at most (retries 0.2, 0.5, 1 and 2 s apart; a build): many
# times that, so a test fails only when it never happens.
DEADLINE_S = 60


def test_transient_failures_are_retried_with_backoff_until_the_build_succeeds(
    fault_stack, fdb, served
):
    target = "fault:flaky"
    fdb.hset(plan_key(target), mapping={"fail": 3, "error": "transient"})
    started = time.monotonic()
    owe(fault_stack, target)
    wait_until(lambda: served(target), timeout=DEADLINE_S)
    took = time.monotonic() - started
    assert fdb.hget(plan_key(target), "renders") == "4"  # three failures, then success
    assert took >= 0.2 + 0.5 + 1.0  # after each delay, never at once
    assert fdb.hget(f"nw:target:{target}", "attempts") is None  # the run of failures ended
    assert not fdb.hexists("nw:dead:builds", target)


def test_a_target_that_keeps_failing_is_parked_while_others_build_then_re_driven(
    fault_stack, fdb, served
):
    broken = "fault:broken"
    fdb.hset(plan_key(broken), mapping={"fail": 1000, "error": "transient"})
    owe(fault_stack, broken)
    others = [f"fault:healthy-{i}" for i in range(8)]
    for other in others:  # owed while the broken target is retried
        owe(fault_stack, other)
        time.sleep(0.3)
    # Builds go on meanwhile: some are served before the broken target is parked, and all are.
    wait_until(
        lambda: fdb.hexists("nw:dead:builds", broken) or all(served(o) for o in others),
        timeout=DEADLINE_S,
    )
    assert any(served(other) for other in others), "nothing built while it was retried"
    wait_until(lambda: all(served(other) for other in others), timeout=DEADLINE_S)
    letter = wait_until(lambda: fdb.hget("nw:dead:builds", broken), timeout=DEADLINE_S)
    letter = json.loads(letter)
    assert letter["attempts"] == 5  # the first build and a retry after each of four delays
    assert letter["error"] == "ConnectionError"
    assert "planned failure 5 of fault:broken" in letter["message"]
    assert "fault_kind.py" in letter["traceback"]
    time.sleep(4.0)  # longer than a lease: a parked target is not retried again
    assert fdb.hget(plan_key(broken), "renders") == "5"
    assert fdb.hget(f"nw:target:{broken}", "state") == "idle"
    assert not served(broken)

    listed = newswire(fault_stack, "dead-letters")
    assert listed.returncode == 0, listed.stderr
    assert broken in listed.stdout and "5 attempts" in listed.stdout
    assert "ConnectionError: planned failure 5" in listed.stdout

    fdb.hset(plan_key(broken), "fail", 0)  # the cause is fixed
    retried = newswire(fault_stack, "dead-letters", "retry", broken)
    assert retried.returncode == 0, retried.stderr
    wait_until(lambda: served(broken), timeout=DEADLINE_S)
    assert fdb.hget(plan_key(broken), "renders") == "6"
    wait_until(lambda: not fdb.hexists("nw:dead:builds", broken), timeout=DEADLINE_S)
    assert broken not in newswire(fault_stack, "dead-letters").stdout


def test_a_fault_in_the_code_is_parked_at_once_with_its_reason(fault_stack, fdb):
    target = "fault:bug"
    fdb.hset(plan_key(target), mapping={"fail": 1000, "error": "bug"})
    owe(fault_stack, target)
    letter = json.loads(wait_until(lambda: fdb.hget("nw:dead:builds", target), timeout=DEADLINE_S))
    assert (letter["error"], letter["attempts"]) == ("RuntimeError", 1)
    time.sleep(1.0)
    assert fdb.hget(plan_key(target), "renders") == "1"  # repeating a bug only repeats it
    assert newswire(fault_stack, "dead-letters", "retry", "--all").returncode == 0
    wait_until(lambda: fdb.hget(plan_key(target), "renders") == "2", timeout=DEADLINE_S)


def test_bad_dead_letter_commands_say_what_to_do(fault_stack):
    both = newswire(fault_stack, "dead-letters", "retry", "fault:x", "--all")
    assert both.returncode == 2 and "not both" in both.stderr
    unknown = newswire(fault_stack, "dead-letters", "retry", "nope:x")
    assert unknown.returncode == 2 and "unknown target 'nope:x'" in unknown.stderr
    stray = newswire(fault_stack, "dead-letters", "fault:x")
    assert stray.returncode == 2 and "retry" in stray.stderr


def section_titles(stack: Stack) -> set[str]:
    response = stack.feed("feeds/sections/dunya.rss")
    if response.status_code == 404:  # not built yet
        return set()
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo
    return {entry.title for entry in parsed.entries}


def test_an_unreadable_article_is_left_out_and_its_feeds_keep_publishing(fault_stack, fdb):
    first = {**SEED, "id": "bozuk-1", "url": SEED["url"] + "bozuk-1", "title": "Bozulacak haber"}
    assert fault_stack.put(first).status_code == 201
    wait_until(lambda: "Bozulacak haber" in section_titles(fault_stack), timeout=DEADLINE_S)

    # A bad migration rewrites the stored document (and, as it would, its content hash).
    key = f"nw:article:{first['id']}"
    fdb.hset(key, mapping={"doc": '{"id": "bozuk-1", "title": ', "hash": "migrated"})

    second = {**SEED, "id": "saglam-1", "url": SEED["url"] + "saglam-1", "title": "Sağlam haber"}
    second["published_at"] = "2026-01-18T12:00:00+03:00"
    written = time.monotonic()
    assert fault_stack.put(second).status_code == 201
    wait_until(lambda: section_titles(fault_stack) == {"Sağlam haber"}, timeout=DEADLINE_S)
    took = time.monotonic() - written
    print(f"\nsection feed updated without the unreadable article in {took:.2f} s")

    letter = json.loads(fdb.hget("nw:dead:articles", "bozuk-1"))
    assert letter["digest"] == "migrated" and letter["error"] == "ValidationError"
    listed = newswire(fault_stack, "dead-letters")
    assert "bozuk-1" in listed.stdout and "left out of every output" in listed.stdout
    assert not fdb.hexists("nw:dead:builds", "feed:section:dunya")  # nothing was parked

    # Written again, the article comes back, and its letter goes.
    fixed = {**first, "title": "Düzeltilen haber", "updated_at": "2026-01-18T13:00:00+03:00"}
    assert fault_stack.put(fixed).status_code == 200
    wait_until(lambda: "Düzeltilen haber" in section_titles(fault_stack), timeout=DEADLINE_S)
    assert "bozuk-1" not in newswire(fault_stack, "dead-letters").stdout
