"""Script calls sharing a round trip, on a real Valkey: one send for all of them, each run
once, even when Redis has lost some of their scripts, and a read after a call that had to run
again reads what it wrote."""

from __future__ import annotations

import pytest
import redis

from shared.state.script_calls import ScriptCall, run_together
from tests.counted_redis import counted_client

# Counts its runs in its key, and says which run this was.
COUNT = "return redis.call('INCR', KEYS[1])"


@pytest.fixture
def counted(settings):
    return counted_client(settings.redis_url)


def test_calls_and_plain_commands_go_in_one_round_trip(counted):
    client, sent = counted
    first, second = client.register_script(COUNT), client.register_script(COUNT + " * 10")
    client.script_load(first.script), client.script_load(second.script)
    sent.clear()
    calls = [ScriptCall(first, ["calls:a"], []), ScriptCall(second, ["calls:b"], [])]
    replies = run_together(client, calls, also=lambda pipe: pipe.set("calls:c", "x"))
    assert replies == [1, 10]
    assert len(sent) == 1 and sent[0].count(b"EVALSHA") == 2
    assert client.get("calls:c") == b"x"


@pytest.mark.parametrize("lost", ["every script", "the second only"])
def test_a_call_whose_script_redis_lost_is_loaded_and_runs_once(counted, lost):
    client, _ = counted
    first, second = client.register_script(COUNT), client.register_script(COUNT + " + 0")
    client.script_flush()
    if lost == "the second only":  # another process loaded the first since
        client.script_load(first.script)
    calls = [ScriptCall(first, ["lost:a"], []), ScriptCall(second, ["lost:b"], [])]
    assert run_together(client, calls) == [1, 1]
    assert client.mget("lost:a", "lost:b") == [b"1", b"1"]  # neither ran twice


def test_an_error_in_a_call_is_raised(counted):
    client, _ = counted
    failing = client.register_script("return redis.error_reply('no such op')")
    fine = client.register_script(COUNT)
    with pytest.raises(redis.ResponseError, match="no such op"):
        run_together(client, [ScriptCall(fine, ["error:a"], []), ScriptCall(failing, [], [])])
    with pytest.raises(redis.ResponseError):
        run_together(client, [], also=lambda pipe: pipe.incr("error:not-a-number", "x"))


def test_a_read_after_a_call_run_again_reads_what_it_wrote(counted):
    """A build's begin and its first read: if the begin's script was lost (and ran after the
    read), the read runs again after it."""
    client, _ = counted
    write = client.register_script(COUNT)
    read = client.register_script("return redis.call('GET', KEYS[1])")
    client.script_flush()
    client.script_load(read.script)  # another process loaded the read since
    calls = [ScriptCall(write, ["order:a"], []), ScriptCall(read, ["order:a"], [], reads=True)]
    assert run_together(client, calls) == [1, b"1"]
    client.script_flush()
    client.script_load(read.script)
    other = [ScriptCall(write, ["order:b"], []), ScriptCall(read, ["order:b"], [])]
    assert run_together(client, other) == [1, None]  # not a read: its one reply stands
