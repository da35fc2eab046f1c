"""Script calls that share one round trip: several Lua scripts (and any plain commands) sent
in one pipeline, each as EVALSHA, each loaded again if Redis has lost it.

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

    def queue(self, pipe: Pipeline) -> None:
        # EVALSHA itself: a script object in a pipeline first asks Redis whether the script
        # is loaded (SCRIPT EXISTS), one more round trip.
        pipe.evalsha(self.script.sha, len(self.keys), *self.keys, *self.args)

    def run(self, client: redis.Redis) -> Any:
        """This call alone (redis-py loads the script if Redis has lost it)."""
        return self.script(keys=list(self.keys), args=list(self.args), client=client)


def run_together(
    client: redis.Redis,
    calls: Sequence[ScriptCall],
    also: Callable[[Pipeline], None] | None = None,
) -> list[Any]:
    """The replies of `calls`, sent in one round trip with whatever `also` queues after them
    (its replies are dropped, its errors raised).

    Each call runs once. One whose script Redis no longer holds (it restarted, or its scripts
    were flushed) did not run: it is loaded and sent again on its own, after the others ran.
    So calls sent together must not depend on each other's order: each touches keys of its
    own, or only reads.
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
    return [
        call.run(client) if isinstance(reply, redis.exceptions.NoScriptError) else _raised(reply)
        for call, reply in zip(calls, replies, strict=False)
    ]


def _raised(reply: Any) -> Any:
    if isinstance(reply, Exception):
        raise reply
    return reply
