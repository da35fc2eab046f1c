"""`newswire status`: one screen on what the stream, queues, targets and builds are doing.

Read-only and quick (a few pipelined round trips). Each line is a label and a value two
spaces apart, so scripts can split it; what looks wrong comes last, with what to do.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from dataclasses import dataclass

import redis

from services.render.pipeline import last_builds
from services.render.pipeline.backlog import Backlog, read_backlog
from shared import websub
from shared.kinds.registry import Registry
from shared.priorities import PRIORITY_STEPS
from shared.settings import Settings
from shared.state import redis_keys

WIDTH = 80
LABEL_WIDTH = 33
SHOWN_READERS = 3
SHOWN_DEAD = 3
_RUN = "`make run` / `docker compose up"


@dataclass(frozen=True)
class Status:
    backlog: Backlog
    server: str
    memory: int
    max_memory: int
    articles: int
    builds: int
    wakeups: int
    next_wakeup_ms: int | None
    last: dict[str, last_builds.LastBuild | None]
    dead: list[tuple[float, str, str]]  # (when, what, why), newest first


def read_status(client: redis.Redis, broker: redis.Redis, settings: Settings) -> Status:
    registry = Registry.from_settings(settings)
    backlog = read_backlog(client, broker, settings, registry, PRIORITY_STEPS)
    pipe = client.pipeline(transaction=False)
    pipe.info("server")
    pipe.info("memory")
    pipe.zcard(redis_keys.index("feed:all"))
    pipe.get(redis_keys.BUILDS)
    pipe.zcard(redis_keys.SWEEP)
    pipe.zrange(redis_keys.SWEEP, 0, 0, withscores=True)
    pipe.hvals(redis_keys.DEAD_BUILDS)
    pipe.lrange(websub.DEAD, 0, SHOWN_DEAD - 1)
    server, memory, articles, builds, wakeups, first, parked, undelivered = pipe.execute()
    dead = [(float(d["at"]), d["target"], d["message"]) for d in map(json.loads, parked)]
    dead += [(float(d["at"]), d["callback"], d["reason"]) for d in map(json.loads, undelivered)]
    name = "valkey" if "valkey_version" in server else "redis"
    return Status(
        backlog=backlog,
        server=f"{name} {server.get('valkey_version') or server['redis_version']}",
        memory=int(memory["used_memory"]),
        max_memory=int(memory.get("maxmemory") or 0),
        articles=articles,
        builds=int(builds or 0),
        wakeups=wakeups,
        next_wakeup_ms=int(first[0][1]) - backlog.now_ms if first else None,
        last=last_builds.read(client, [kind.name for kind in registry.kinds]),
        dead=sorted(dead, reverse=True)[:SHOWN_DEAD],
    )


def render(status: Status, registry: Registry, stale_s: int = 30) -> list[str]:
    """The screen, as lines of at most WIDTH characters."""
    b, now = status.backlog, status.backlog.now_ms / 1000
    rows: list[tuple[str, str]] = []
    memory = _bytes(status.memory)
    if status.max_memory:
        memory += f" of {_bytes(status.max_memory)} ({status.memory / status.max_memory:.0%})"
    rows.append(("server", f"{status.server}, {memory} used"))
    rows.append(("articles (published or embargoed)", str(status.articles)))
    rows.append(("events in the stream", str(b.stream_length)))
    unread = f"{b.lag}{'+' if b.lag_counted_to_limit else ''}"
    if b.oldest_unread_ms is not None:
        unread += f" (the oldest from {_ago(b.oldest_unread_ms / 1000)} ago)"
    rows.append(("events not yet read (lag)", unread))
    pending = str(b.pending) if b.group else "no consumer group yet (start the dispatcher)"
    rows.append(("events read, not yet acknowledged", pending))
    readers = sorted(b.readers, key=lambda r: r.idle_ms)
    for reader in readers[:SHOWN_READERS]:
        value = f"{reader.pending} pending, last read {_ago(reader.idle_ms / 1000)} ago"
        rows.append((f"dispatcher {reader.name}", value))
    if len(readers) > SHOWN_READERS:
        rows.append(("dispatchers not shown", str(len(readers) - SHOWN_READERS)))
    for queue in dict.fromkeys(queue for queue, _ in b.queues):
        steps = {step: n for (q, step), n in b.queues.items() if q == queue}
        split = ", ".join(f"priority {step}: {n}" for step, n in steps.items())
        rows.append((f"queue {queue}", f"{sum(steps.values())} waiting ({split})"))
    rows.append(("tasks taken by workers", str(b.reserved)))
    states = ("queued", "building", "cooling", "retrying")
    rows.append(("targets", ", ".join(f"{state} {b.targets.get(state, 0)}" for state in states)))
    rows.append(("builds finished", str(status.builds)))
    for kind, last in status.last.items():
        value = "none yet"
        if last is not None:
            value = f"{last.outcome} {_ago(now - last.at)} ago, {last.target}"
        rows.append((f"last {kind} build", value))
    wakeup = "none" if status.next_wakeup_ms is None else f"in {status.next_wakeup_ms / 1000:.1f} s"
    rows.append(("scheduled wakeups", f"{status.wakeups} (next {wakeup})"))
    dead = b.dead_letters
    split = ", ".join(f"{kind} {n}" for kind, n in dead.items())
    rows.append(("dead letters", f"{sum(dead.values())} ({split})"))
    for at, what, why in status.dead:
        rows.append(("dead letter", f"{_ago(now - at)} ago {what}: {why}"))
    for warning in warnings(status, registry, stale_s):
        rows.append(("WARNING", warning))
    return _table(rows)


def warnings(status: Status, registry: Registry, stale_s: int) -> list[str]:
    """What looks wrong, each with what to do about it; `stale_s` is how long a dispatcher
    may read nothing, or builds waiting finish none, before it says so."""
    b, now = status.backlog, status.backlog.now_ms / 1000
    found = []
    if not b.group:
        found.append(f"no dispatcher has started: start it: {_RUN} dispatcher`")
    elif not any(r.idle_ms < stale_s * 1000 for r in b.readers):
        found.append(
            f"no consumer read in {stale_s} s: is the dispatcher running? {_RUN} dispatcher`"
        )
    for queue in registry.queues:
        waiting = sum(n for (q, _), n in b.queues.items() if q == queue)
        kinds = [kind.name for kind in registry.kinds if kind.queue == queue]
        ended = [last.at for k in kinds if (last := status.last.get(k)) is not None]
        if waiting and now - max(ended, default=0) > stale_s:
            worker = "card-worker" if queue == "cards" else "worker"
            found.append(
                f"{waiting} builds wait on {queue} and none finished in {stale_s} s: "
                f"are the workers running? {_RUN} {worker}`"
            )
    for kind, last in status.last.items():
        if last is not None and last.outcome in ("failed", "dead"):
            found.append(f"the last {kind} build {last.outcome}: see the worker's log")
    if sum(b.dead_letters.values()):
        found.append("there are dead letters: `newswire dead-letters` says why")
    if status.max_memory and status.memory > 0.9 * status.max_memory:
        found.append("Redis memory is over 90% of maxmemory; writes fail when full: raise it")
    return found


def print_status(client: redis.Redis, settings: Settings) -> int:
    broker_url = settings.broker_url or settings.redis_url
    broker = client if broker_url == settings.redis_url else redis.Redis.from_url(broker_url)
    status = read_status(client, broker, settings)
    for line in render(status, Registry.from_settings(settings), settings.status_stale_s):
        print(line)
    return 0


def _table(rows: list[tuple[str, str]]) -> list[str]:
    width = min(LABEL_WIDTH, max(len(label) for label, _ in rows))
    room = WIDTH - width - 2
    lines = []
    for label, value in rows:
        label = label if len(label) <= width else label[: width - 1] + "…"
        if label == "WARNING":  # said in full, over as many lines as it takes
            wrapped = textwrap.wrap(value, room, break_on_hyphens=False)
            lines.append(f"{label:<{width}}  {wrapped[0]}")
            lines += [f"{'':<{width}}  {more}" for more in wrapped[1:]]
            continue
        value = value if len(value) <= room else value[: room - 1] + "…"
        lines.append(f"{label:<{width}}  {value}")
    return lines


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    size = n / 1024
    for unit in ("KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            break
        size /= 1024
    return f"{size:.1f} {unit}"


def run(args: argparse.Namespace, settings: Settings) -> int:
    return print_status(redis.Redis.from_url(settings.redis_url), settings)
