"""Events on the `nw:events` stream: what an entry holds and how to read one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

EventType = Literal[
    "article.published",
    "article.updated",
    "article.retracted",
    "targets.due",  # the sweeper: these targets' output changes with time
    "targets.rebuild",  # `newswire rebuild`: rebuild these from stored state
    "names.changed",  # an admin set or unset a display name: these feeds show it
]


@dataclass(frozen=True)
class Event:
    """One stream entry: these targets must be rebuilt, because an article changed (its id
    and revision are given) or for the reason the type names (then id is "" and rev 0)."""

    event_id: str
    type: EventType
    article_id: str
    revision: int
    targets: tuple[str, ...]

    @classmethod
    def from_entry(cls, event_id: bytes | str, fields: dict[bytes, bytes]) -> Event:
        """Parse a raw XREADGROUP entry.

        Raises:
            ValueError: a field is missing or malformed.
        """
        try:
            return cls(
                event_id=event_id.decode() if isinstance(event_id, bytes) else event_id,
                type=fields[b"type"].decode(),  # type: ignore[arg-type]
                article_id=fields[b"id"].decode(),
                revision=int(fields[b"rev"]),
                targets=tuple(json.loads(fields[b"targets"])),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"malformed event {event_id!r}: {exc}") from exc


def event_id_key(event_id: str) -> tuple[int, int]:
    """Sort key of a stream id "ms-seq"; later events have larger keys."""
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)
