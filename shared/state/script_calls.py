"""Script calls that share one round trip: several Lua scripts (and plain commands) sent in
one pipeline, each script as EVALSHA, each loaded again if Redis has lost it.

A round trip costs Redis's one thread more than most scripts do, and the caller a sleep and
a wake-up; a build sends its begin with its first read, and its finish with its WebSub claim.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.client import Pipeline
from redis.commands.core import Script


@dataclass(frozen=True)
class ScriptCall:
    """One call of a registered script, to send in a round trip with others."""

    script: Script
    keys: Sequence[str]
    args: Sequence[str | int]
    # Only reads (or writes what it may write twice, as a feed read dropping expired
    # retractions): what it returns must follow the calls before it in its round trip.
    reads: bool = False

    def queue(self, pipe: Pipeline) -> None:
        # EVALSHA itself: a script object in a pipeline first asks Redis whether the script
        # is loaded (SCRIPT EXISTS), one more round trip.
        pipe.evalsha(self.script.sha, len(self.keys), *self.keys, *self.args)

    def run(self, client: redis.Redis) -> Any:
        """This call alone (redis-py loads the script if Redis has lost it)."""
        return self.script(keys=list(self.keys), args=list(self.args), client=client)


@dataclass(frozen=True)
class CommandCall:
    """A plain command that only reads (LLEN, say), to send in a round trip with script
    calls; like a reading script call, it runs again after any call before it that had to."""

    args: tuple[str | int, ...]
    reads: bool = True

    def queue(self, pipe: Pipeline) -> None:
        pipe.execute_command(*self.args)

    def run(self, client: redis.Redis) -> Any:
        return client.execute_command(*self.args)


def run_together(
    client: redis.Redis,
    calls: Sequence[ScriptCall | CommandCall],
    also: Callable[[Pipeline], None] | None = None,
) -> list[Any]:
    """The replies of `calls`, sent in one round trip with whatever `also` queues after them
    (its replies are dropped, its errors raised).

    A call whose script Redis no longer holds (it restarted, or its scripts were flushed) did
    not run: it is loaded and run again on its own, after the others ran. So a call that
    only reads (`reads`) is run again after any call before it that had to be, and reads
    what that one wrote; any other call runs once, so those must not depend on each other's
    order (each touches keys of its own).
    """
    pipe = client.pipeline(transaction=False)
    for call in calls:
        call.queue(pipe)
    if also is not None:
        also(pipe)
    replies = pipe.execute(raise_on_error=False)
    for reply in replies[len(calls) :]:
        if isinstance(reply, Exception):
            raise reply
    found, again = [], False
    for call, reply in zip(calls, replies, strict=False):
        if isinstance(reply, redis.exceptions.NoScriptError) or (again and call.reads):
            reply, again = call.run(client), True
        elif isinstance(reply, Exception):
            raise reply
        found.append(reply)
    return found
