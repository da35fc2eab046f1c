"""`newswire status`: what the event stream, the builds and the sweeper are doing."""

from __future__ import annotations

import redis

from shared import keys
from shared.settings import Settings


def print_status(client: redis.Redis, settings: Settings) -> int:
    stream, group = settings.events_stream, settings.consumer_group
    pipe = client.pipeline(transaction=False)
    pipe.xlen(stream)
    pipe.zcard(keys.DUE)
    pipe.get(keys.BUILDS)
    pipe.zcard(keys.SWEEP)
    pipe.zrange(keys.SWEEP, 0, 0, withscores=True)
    pipe.zcard(keys.index("feed:all"))
    pipe.time()
    length, waiting, builds, scheduled, first, articles, (sec, usec) = pipe.execute()
    try:
        pending = client.xpending(stream, group)["pending"]
    except redis.ResponseError:
        pending = "no consumer group yet (start the dispatcher)"
    now_ms = sec * 1000 + usec // 1000
    next_wakeup = f"in {(first[0][1] - now_ms) / 1000:.1f} s" if first else "none"
    rows = [
        ("articles (published or embargoed)", articles),
        ("events in the stream", length),
        ("events read, not yet acknowledged", pending),
        ("targets queued, building or cooling", waiting),
        ("builds finished", int(builds or 0)),
        ("scheduled wakeups", f"{scheduled} (next {next_wakeup})"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0
