"""`newswire status --json`: what the screen shows, as one JSON object for scripts.

Counts are numbers, durations are seconds (`…_s`; ages `…_s_ago`), times since the epoch
are `at`, and what is not known is null.
"""

from __future__ import annotations

from typing import Any

from services.cli.status_report import Status


def as_json(status: Status) -> dict[str, Any]:
    b, now = status.backlog, status.backlog.now_ms / 1000
    queues: dict[str, dict[str, Any]] = {}
    for (queue, step), n in b.queues.items():
        entry = queues.setdefault(queue, {"waiting": 0, "by_priority": {}})
        entry["waiting"] += n
        entry["by_priority"][str(step)] = n
    return {
        "redis": {"url": status.redis, "from": status.redis_source},
        "server": {
            "name": status.server_name,
            "version": status.server.partition(" ")[2],
            "uptime_s": status.uptime_ms / 1000,
            "memory_bytes": status.memory,
            "max_memory_bytes": status.max_memory or None,
        },
        "articles": status.articles,
        "events": {
            "in_stream": b.stream_length,
            "added": b.events_added,
            "lag": b.lag,
            "lag_counted_to_limit": b.lag_counted_to_limit,
            "oldest_unread_s_ago": _seconds(b.oldest_unread_ms),
            "consumer_group": b.group,
            "read_not_acknowledged": b.pending,
        },
        "dispatchers": [
            {
                "name": d.name,
                "pending": d.pending,
                "gone": d.gone,
                "seen_s_ago": _seconds(d.seen_ms),
                "last_read": d.last_read,
                "last_read_s_ago": _seconds(d.last_read_ms),
            }
            for d in status.dispatchers
        ],
        "queues": queues,
        "tasks_taken_by_workers": b.reserved,
        "targets": {s: b.targets.get(s, 0) for s in ("queued", "building", "cooling", "retrying")},
        "builds_finished": status.builds,
        "last_builds": {
            kind: None
            if last is None
            else {
                "outcome": last.outcome,
                "target": last.target,
                "at": last.at,
                "s_ago": max(0.0, now - last.at),
                "took_s": last.seconds,
            }
            for kind, last in status.last.items()
        },
        "wakeups": {"scheduled": status.wakeups, "next_in_s": _seconds(status.next_wakeup_ms)},
        "dead_letters": {
            "total": status.dead_letters,
            **{kind: n for kind, n in b.dead_letters.items()},
            "newest": [
                {"kind": d.kind, "what": d.what, "why": d.why, "at": d.at} for d in status.dead
            ],
        },
        "warnings": status.warnings,
    }


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000
