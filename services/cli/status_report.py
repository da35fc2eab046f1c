"""What `newswire status` reports, read from Redis in a few pipelined round trips: the
screen (services/cli/status_screen.py) and the JSON (services/cli/status_json.py) both show
this, so they never disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Literal

import redis

from services.cli.settings_origin import ENV_FILE, SettingsOrigin
from services.render.pipeline import last_builds
from services.render.pipeline.backlog import Backlog, Reader, read_backlog
from shared import websub
from shared.kinds.registry import Registry
from shared.priorities import PRIORITY_STEPS
from shared.state import redis_keys
from shared.state.dead_letters import DeadLetters

SHOWN_DEAD = 3
_RUN = "`make run` / `docker compose up"
# A server that loads its data from its append-only file stamps every consumer it replays
# with the load's time, as if each had just read. Times that fall in the server's first
# seconds (its start is known to the second, and loading takes a moment) are not told from
# that stamp, so they are shown as not known rather than made up.
LOAD_MARGIN_MS = 5_000

LastRead = Literal["ago", "never", "unknown", "unreported"]
_SAID_FROM = {
    "environment": "from the environment",
    "file": f"from {ENV_FILE}",
    "default": "the default",
}


@dataclass(frozen=True)
class DispatcherState:
    """A consumer of the event stream's group, as status shows it."""

    name: str
    pending: int  # entries it read and has not acknowledged
    gone: bool  # it has not tried to read within the claim idle time
    seen_ms: int | None  # since it last tried to read; None: not known (the server's stamp)
    last_read: LastRead  # whether `last_read_ms` is known, and if not, why
    last_read_ms: int | None  # since it last read entries, when known


@dataclass(frozen=True)
class DeadLetter:
    at: float  # seconds since the epoch
    kind: str  # build, article, websub
    what: str  # the target, article id or callback
    why: str


@dataclass(frozen=True)
class Status:
    redis: str  # the URL read (password hidden)
    redis_from: str  # where that URL came from, in words
    redis_source: str  # the same for scripts: environment, var/newswire.env, default
    backlog: Backlog
    server: str  # "valkey 8.1.8"
    uptime_ms: int  # since the server started
    memory: int
    max_memory: int
    articles: int
    builds: int
    wakeups: int
    next_wakeup_ms: int | None
    last: dict[str, last_builds.LastBuild | None]
    dispatchers: list[DispatcherState]  # the ones reading first, each by recency
    dead: list[DeadLetter]  # the newest SHOWN_DEAD, newest first
    warnings: list[str]  # what looks wrong, each with what to do

    @property
    def server_name(self) -> str:
        return self.server.partition(" ")[0]

    @property
    def dead_letters(self) -> int:
        return sum(self.backlog.dead_letters.values())


def read_status(client: redis.Redis, broker: redis.Redis, origin: SettingsOrigin) -> Status:
    """Everything status shows, from Redis (and the broker, which may be the same server).

    Raises:
        redis.ConnectionError: Redis (or the broker) cannot be reached.
    """
    settings = origin.settings
    registry = Registry.from_settings(settings)
    backlog = read_backlog(client, broker, settings, registry, PRIORITY_STEPS)
    pipe = client.pipeline(transaction=False)
    pipe.info("server")
    pipe.info("memory")
    pipe.zcard(redis_keys.index("feed:all"))
    pipe.get(redis_keys.BUILDS)
    pipe.zcard(redis_keys.SWEEP)
    pipe.zrange(redis_keys.SWEEP, 0, 0, withscores=True)
    pipe.lrange(websub.DEAD, 0, SHOWN_DEAD - 1)
    server, memory, articles, builds, wakeups, first, undelivered = pipe.execute()
    name = "valkey" if "valkey_version" in server else "redis"
    uptime_ms = int(server.get("uptime_in_seconds") or 0) * 1000
    status = Status(
        redis=origin.redis,
        redis_from=_SAID_FROM[origin.redis_from],
        redis_source=origin.redis_source_name,
        backlog=backlog,
        server=f"{name} {server.get('valkey_version') or server['redis_version']}",
        uptime_ms=uptime_ms,
        memory=int(memory["used_memory"]),
        max_memory=int(memory.get("maxmemory") or 0),
        articles=articles,
        builds=int(builds or 0),
        wakeups=wakeups,
        next_wakeup_ms=int(first[0][1]) - backlog.now_ms if first else None,
        last=last_builds.read(client, [kind.name for kind in registry.kinds]),
        dispatchers=dispatchers(backlog.readers, settings.claim_idle_ms, uptime_ms),
        dead=_newest_dead(DeadLetters(client), undelivered),
        warnings=[],
    )
    found = warnings(status, registry, settings.status_stale_s)
    return replace(status, warnings=found)


def dispatchers(readers: list[Reader], claim_idle_ms: int, uptime_ms: int) -> list[DispatcherState]:
    """The group's consumers: gone once they have not tried to read for `claim_idle_ms`
    (then their entries are claimed, and a live dispatcher removes one that holds nothing)."""
    found = []
    for reader in readers:
        if reader.inactive_ms is None:
            last_read: LastRead = "unreported"
        elif reader.inactive_ms < 0:
            last_read = "never"
        else:
            last_read = "ago" if _known(reader.inactive_ms, uptime_ms) else "unknown"
        found.append(
            DispatcherState(
                name=reader.name,
                pending=reader.pending,
                gone=reader.idle_ms >= claim_idle_ms,
                seen_ms=reader.idle_ms if _known(reader.idle_ms, uptime_ms) else None,
                last_read=last_read,
                last_read_ms=reader.inactive_ms if last_read == "ago" else None,
            )
        )
    return sorted(found, key=lambda d: (d.gone, d.seen_ms is None, d.seen_ms or 0, d.name))


def _known(ago_ms: int, uptime_ms: int) -> bool:
    """Whether a consumer's time `ago_ms` is its own, not the stamp of the server's load."""
    return not uptime_ms - 1000 - LOAD_MARGIN_MS <= ago_ms <= uptime_ms + 1000


def _newest_dead(letters: DeadLetters, undelivered: list[bytes]) -> list[DeadLetter]:
    found = [DeadLetter(b.at, "build", b.target, b.message) for b in letters.builds()]
    found += [
        DeadLetter(a.at, "article", a.article_id, f"{a.error}: {a.message}")
        for a in letters.current_articles()
    ]
    found += [
        DeadLetter(float(d["at"]), "websub", d["callback"], d["reason"])
        for d in map(json.loads, undelivered)
    ]
    return sorted(found, key=lambda letter: letter.at, reverse=True)[:SHOWN_DEAD]


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
    if status.dead_letters:
        found.append("there are dead letters: `newswire dead-letters` says why")
    if status.max_memory and status.memory > 0.9 * status.max_memory:
        found.append("Redis memory is over 90% of maxmemory; writes fail when full: raise it")
    return found
