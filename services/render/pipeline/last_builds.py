"""The newest build of each kind, kept in Redis for `newswire status` (a small hash per kind)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis
from redis.client import Pipeline

from shared.state import redis_keys


@dataclass(frozen=True)
class LastBuild:
    kind: str
    target: str
    outcome: str  # published, superseded, retried, dead, failed…
    at: float  # seconds since the epoch, when it ended
    seconds: float  # how long it took


def record(client: redis.Redis | Pipeline, build: LastBuild) -> None:
    client.hset(
        redis_keys.last_build(build.kind),
        mapping={
            "target": build.target,
            "outcome": build.outcome,
            "at": repr(build.at),
            "seconds": repr(build.seconds),
        },
    )


def read(client: redis.Redis, kinds: Sequence[str]) -> dict[str, LastBuild | None]:
    """The newest build of each of `kinds` (None: none recorded), in one round trip."""
    pipe = client.pipeline(transaction=False)
    for kind in kinds:
        pipe.hgetall(redis_keys.last_build(kind))
    found: dict[str, LastBuild | None] = dict.fromkeys(kinds)
    for kind, fields in zip(kinds, pipe.execute() if kinds else [], strict=True):
        values = {k.decode(): v.decode() for k, v in fields.items()}
        if values:
            at, seconds = float(values["at"]), float(values["seconds"])
            found[kind] = LastBuild(kind, values["target"], values["outcome"], at, seconds)
    return found
