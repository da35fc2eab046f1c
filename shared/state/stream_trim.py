"""Trimming the event stream without losing an entry a consumer group still needs.

A fixed `MAXLEN` on every `XADD` cuts whatever is oldest, acknowledged or not: a dispatcher
that falls behind (or is down) by more than the cap would lose events for good. Here the
stream is cut only below the oldest entry some group has not acknowledged (its oldest
pending entry, else the first entry not yet delivered to it), and only as far as needed to
bring the stream back to its target length. The target is a goal, not a hard limit: while a
group holds entries back, the stream grows past it.
"""

from __future__ import annotations

import redis

# Entries looked at per trim: a stream far over its target comes down over several rounds.
_BATCH = 10_000


def oldest_needed(client: redis.Redis, stream: str) -> str | None:
    """The id of the oldest entry any consumer group of `stream` still needs (this id may
    name no entry: it is then the one after the last delivered), or None when the stream has
    no group, since then nothing is known to be done with."""
    groups = client.xinfo_groups(stream)
    if not groups:
        return None
    needed = []
    for group in groups:
        if group["pending"]:
            needed.append(_decoded(client.xpending(stream, group["name"])["min"]))
        else:
            needed.append(_next_id(_decoded(group["last-delivered-id"])))
    return min(needed, key=_key)


def trim(client: redis.Redis, stream: str, target_len: int) -> int:
    """Remove the oldest entries of `stream` that every group has acknowledged, until its
    length is `target_len` (or nothing more may go).

    Returns:
        How many entries were removed.
    """
    excess = client.xlen(stream) - target_len
    if excess <= 0:
        return 0
    limit = oldest_needed(client, stream)
    if limit is None:
        return 0
    batch = min(excess, _BATCH)
    # Entries up to the limit (inclusive, in case it names one), at most one past the batch.
    older = client.xrange(stream, "-", limit, count=batch + 1)
    if not older:
        return 0
    # Keep from the entry after the batch, or from the limit if fewer entries lie below it.
    keep_from = _decoded(older[batch][0]) if len(older) > batch else limit
    return int(client.xtrim(stream, minid=keep_from, approximate=False))


def _decoded(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _next_id(entry_id: str) -> str:
    ms, seq = _key(entry_id)
    return f"{ms}-{seq + 1}"
