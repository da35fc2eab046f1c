"""What is waiting right now: the event stream and its readers, the Celery queues by
priority, the targets the coordinator holds, and dead letters. Read-only, in few round trips;
the dispatcher's metrics and `newswire status` both read it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import redis
from kombu.transport.redis import Channel

from shared import websub
from shared.kinds.registry import Registry
from shared.settings import Settings
from shared.state import redis_keys
from shared.state.dead_letters import DeadLetters

# Counting a lag Redis does not report (6.x has no `lag`) reads entries: stop at this many.
LAG_COUNT_LIMIT = 10_000
# Targets whose state is counted (the coordinator's active ones; idle targets are not there).
TARGETS_COUNT_LIMIT = 10_000
# Kombu keeps the messages workers hold but have not acknowledged in this hash.
_UNACKED = Channel.unacked_key


@dataclass(frozen=True)
class Reader:
    """A consumer of the event stream's group: a dispatcher, now or once."""

    name: str
    pending: int  # entries it read and has not acknowledged
    # Since it last tried to read or claim (a live dispatcher does every poll, entries or
    # not). A server that loads its data from disk sets this to the load, as if it had tried.
    idle_ms: int
    # Since it last read or claimed entries (Redis 7.2+, Valkey 8: `inactive`); -1: never;
    # None: the server does not say. Reset to the load like `idle_ms`, unless the data came
    # from an RDB file, which keeps both times.
    inactive_ms: int | None = None


@dataclass(frozen=True)
class Backlog:
    now_ms: int  # Redis's clock
    stream_length: int
    events_added: int | None  # ever appended (Redis 7+; None before)
    group: bool  # whether the consumer group exists (a dispatcher has started)
    pending: int  # read by a dispatcher, not yet acknowledged
    lag: int  # appended, not yet read by the group
    lag_counted_to_limit: bool  # lag is at least LAG_COUNT_LIMIT
    oldest_unread_ms: int | None  # age of the oldest entry not yet read
    readers: list[Reader]
    queues: dict[tuple[str, int], int]  # (queue, priority step) → messages waiting
    reserved: int  # messages taken by workers, not yet acknowledged
    targets: dict[str, int]  # coordinator state → targets (queued, building, cooling…)
    dead_letters: dict[str, int] = field(default_factory=dict)  # builds, articles, websub

    @property
    def waiting(self) -> int:
        return sum(self.queues.values())


def queue_keys(registry: Registry, steps: list[int]) -> dict[tuple[str, int], str]:
    """The Redis list of each (queue, priority step), as kombu's Redis transport names them."""
    names = dict.fromkeys((*registry.queues, websub.QUEUE))
    return {
        (queue, step): queue if step == steps[0] else f"{queue}{Channel.sep}{step}"
        for queue in names
        for step in steps
    }


def read_backlog(
    client: redis.Redis,
    broker: redis.Redis,
    settings: Settings,
    registry: Registry,
    steps: list[int],
) -> Backlog:
    """Read the backlog from Redis (and the broker, which may be the same server).

    Raises:
        redis.RedisError: Redis cannot be reached.
    """
    stream, group = settings.events_stream, settings.consumer_group
    lists = queue_keys(registry, steps)
    pipe = client.pipeline(transaction=False)
    pipe.time()
    pipe.xinfo_stream(stream)
    pipe.xinfo_groups(stream)
    pipe.xinfo_consumers(stream, group)
    pipe.zrange(redis_keys.DUE, 0, TARGETS_COUNT_LIMIT - 1)
    pipe.llen(websub.DEAD)
    # One round trip when the broker is this same server, as it is by default.
    queue_pipe = pipe if broker is client else broker.pipeline(transaction=False)
    for name in lists.values():
        queue_pipe.llen(name)
    queue_pipe.hlen(_UNACKED)
    replies = pipe.execute(raise_on_error=False)
    if queue_pipe is not pipe:
        replies += queue_pipe.execute()
    _raise_connection_errors(replies)
    (sec, usec), info, groups, consumers, due, dead_websub = replies[:6]
    *depths, reserved = replies[6:]
    now_ms = int(sec) * 1000 + int(usec) // 1000
    info = info if isinstance(info, dict) else {}
    groups = groups if isinstance(groups, list) else []
    mine = next((g for g in groups if _text(g.get("name")) == group), None)
    lag, capped, oldest = _lag(client, stream, info, mine, now_ms)
    # Counted as `newswire dead-letters` lists them: stale article letters left out.
    dead_builds, dead_articles = DeadLetters(client).count()
    return Backlog(
        now_ms=now_ms,
        stream_length=int(info.get("length") or 0),
        events_added=info.get("entries-added"),
        group=mine is not None,
        pending=int(mine["pending"]) if mine else 0,
        lag=lag,
        lag_counted_to_limit=capped,
        oldest_unread_ms=oldest,
        readers=[
            Reader(_text(c["name"]), int(c["pending"]), int(c["idle"]), _int(c.get("inactive")))
            for c in (consumers if isinstance(consumers, list) else [])
        ],
        queues={key: int(depth) for key, depth in zip(lists, depths, strict=True)},
        reserved=int(reserved),
        targets=_states(client, due),
        dead_letters={"builds": dead_builds, "articles": dead_articles, "websub": int(dead_websub)},
    )


def _lag(
    client: redis.Redis,
    stream: str,
    info: dict[str, Any],
    group: dict[str, Any] | None,
    now_ms: int,
) -> tuple[int, bool, int | None]:
    """(entries not yet read, whether counting stopped at the limit, the oldest one's age)."""
    last = _text(info.get("last-generated-id")) or "0-0"
    read_up_to = _text(group.get("last-delivered-id")) if group else "0-0"
    if not info or read_up_to == last:
        return 0, False, None
    reported = group.get("lag") if group else None  # Redis 7+; None when it cannot tell
    count = 1 if reported is not None else LAG_COUNT_LIMIT
    unread = client.xrange(stream, min=f"({read_up_to}", count=count)
    if not unread:
        return 0, False, None
    oldest_ms = now_ms - int(_text(unread[0][0]).split("-")[0])
    if reported is not None:
        return int(reported), False, max(0, oldest_ms)
    return len(unread), len(unread) >= LAG_COUNT_LIMIT, max(0, oldest_ms)


def _states(client: redis.Redis, due: list[bytes]) -> dict[str, int]:
    if not isinstance(due, list) or not due:
        return {}
    pipe = client.pipeline(transaction=False)
    for target in due:
        pipe.hget(redis_keys.target(target.decode()), "state")
    return dict(Counter(_text(state) or "idle" for state in pipe.execute()))


def _raise_connection_errors(replies: list[Any]) -> None:
    # Missing stream or group come back as errors to read as "none yet"; an outage must not.
    for reply in replies:
        if isinstance(reply, redis.ConnectionError | redis.TimeoutError):
            raise reply


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value) if value is not None else ""
