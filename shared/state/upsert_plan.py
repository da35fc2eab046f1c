"""The plan of one upsert, made in Python from the article's stored bookkeeping: whether it
writes at all, and what the upsert script (shared/state/lua/upsert.lua) is to write.

Redis runs every script on its one thread, so what a script does per write bounds every
writer's throughput. Everything that depends only on the article and its stored revision is
decided here; the script checks that the revision is still the one planned against, and
applies the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from shared.article import Article
from shared.kinds.entries import TargetEntry
from shared.state import redis_keys

# The bookkeeping a plan is made against, "rev" first (bench/lua_stats.py tells this read
# from others by it).
PLAN_FIELDS = ("rev", "publisher", "hash", "updated", "targets", "retracted", "published")

Refusal = Literal["forbidden", "stale", "unchanged"]


@dataclass(frozen=True)
class Wanted:
    """One upsert asked for, with what planning needs (computed once, however many times it
    is planned)."""

    article: Article
    publisher: str
    doc: str
    digest: str
    entries: Sequence[TargetEntry]


@dataclass(frozen=True)
class Known:
    """Targets in the target set, and targets named, when the plan's round was read: both
    stay so (neither is ever taken back), so the script need not add or name them again."""

    targets: set[str] = field(default_factory=set)
    named: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Stored:
    """An article's bookkeeping as read (PLAN_FIELDS)."""

    rev: int
    owner: str | None
    digest: str | None
    updated: int
    targets: dict[str, list[Any]]
    retracted: bool
    published: str | None

    @classmethod
    def read(cls, values: Sequence[bytes | str | None]) -> Stored:
        rev, owner, digest, updated, targets, retracted, published = map(_text, values)
        return cls(
            int(rev or 0), owner, digest, int(updated or 0), _held(targets), retracted == "1",
            published,
        )  # fmt: skip

    @property
    def exists(self) -> bool:
        """Whether any revision was ever stored (a takedown's tombstone included)."""
        return self.owner is not None

    @property
    def shown(self) -> bool:
        """Whether a revision is stored and not taken down (shown now, or under embargo)."""
        return self.exists and not self.retracted and self.published is not None


def refusal(wanted: Wanted, stored: Stored) -> Refusal | None:
    """Why the upsert writes nothing, if it does not."""
    if not stored.exists:
        return None
    if stored.owner != wanted.publisher:
        return "forbidden"
    updated = _ms(wanted.article.modified)
    # A takedown sticks: only a strictly newer revision brings the article back.
    if updated < stored.updated or (stored.retracted and updated == stored.updated):
        return "stale"
    if not stored.retracted and stored.digest == wanted.digest:
        return "unchanged"
    return None


class TargetPlan:
    """What the script writes per target, and which targets the event names: the entries of
    the new revision compared with the stored `targets` map."""

    def __init__(self, stored: Stored, known: Known, names_targets: bool) -> None:
        self._stored, self._known, self._names_targets = stored, known, names_targets
        self.held: list[bytes] = []  # the new `targets` map's members, less sharded ones
        self.index: list[str | int] = []  # key, score
        self.payloads: list[str] = []  # key, payload
        self.sharded: list[str | int] = []  # _SHARDED_WIDTH values each
        self.gone: list[str] = []  # retraction records to clear
        self.fresh: list[str] = []  # to add to the target set
        self.labels: list[str] = []  # target, name
        self.changed: list[str] = []  # what each keeps of the article changed
        self.names: list[str] = []
        self.name_shows: list[str] = []  # targets that show names only (`shows_names`)

    def add(self, entry: TargetEntry) -> None:
        name, before = entry.name, self._stored.targets.get(entry.name)
        keep = 1 if entry.keep_retractions else 0
        self.names.append(name)
        if entry.shows_names:
            self.name_shows.append(name)
        if entry.score is not None and entry.shard is not None:
            # Its part is chosen in the script: it depends on every article in the target.
            payload = entry.payload
            key = orjson.dumps(name) + b":[" + orjson.dumps(entry.fingerprint) + b","
            self.sharded += [
                name, entry.shard.max_items, entry.shard.max_bytes,
                len(payload.encode()) if payload else 0, entry.score, payload or "",
                "1" if payload is not None else "0",
                _int(before[1]) if before else 0, _int(before[2]) if before else 0,
                "1" if before is not None else "0", key.decode(), keep,
            ]  # fmt: skip
        else:
            if entry.score is not None:
                self.index += [redis_keys.index(name), entry.score]
                if entry.payload is not None:
                    self.payloads += [redis_keys.payloads(name), entry.payload]
            self.held.append(
                orjson.dumps(name) + b":" + orjson.dumps([entry.fingerprint, 0, 0, keep])
            )
        # Not held by the last revision, or held in the list form written before
        # fingerprints (whose writer may not have kept the sets this one keeps).
        if before is None or before[0] == "":
            if entry.keep_retractions and self._stored.exists:
                self.gone.append(redis_keys.RETRACTED.format(target=name))
            if name not in self._known.targets:
                self.fresh.append(name)
            if entry.label is not None and self._names_targets and name not in self._known.named:
                self.labels += [name, entry.label]
        if before is None or before[0] != entry.fingerprint:
            self.changed.append(name)

    def args(self) -> list[Any]:
        """The script's arguments from its `targets` map on (see upsert.lua)."""
        planned = set(self.names)
        left = [(n, before) for n, before in self._stored.targets.items() if n not in planned]
        gone_from = [n for n, _ in left]
        # A new article changes a target that shows only names if it gives a name.
        quiet = set(self.name_shows) if not self.labels and not self._stored.exists else set()
        return [
            b",".join(self.held),
            # The event's targets when the article is shown before and now, now only, and
            # before only (upsert.lua tells which by Redis's clock).
            orjson.dumps(self.changed + gone_from),
            orjson.dumps([name for name in self.names if name not in quiet]),
            orjson.dumps(self.names + gone_from),
            len(self.index) // 2, *self.index,
            len(self.payloads) // 2, *self.payloads,
            len(self.sharded) // _SHARDED_WIDTH, *self.sharded,
            len(left), *(v for n, before in left for v in (n, _int(before[1]), _int(before[2]))),
            len(self.gone), *self.gone,
            len(self.fresh), *self.fresh,
            len(self.labels) // 2, *self.labels,
        ]  # fmt: skip


_SHARDED_WIDTH = 12


def script_args(wanted: Wanted, stored: Stored, known: Known, names_targets: bool) -> list[Any]:
    """upsert.lua's arguments, less the names of a target's keys that end them."""
    plan = TargetPlan(stored, known, names_targets)
    for entry in wanted.entries:
        plan.add(entry)
    article, updating = wanted.article, stored.exists and not stored.retracted
    return [
        article.id,
        stored.rev,
        wanted.doc,
        wanted.digest,
        _ms(article.modified),
        _ms(article.published_at),
        wanted.publisher,
        stored.published if stored.shown else "",
        "1" if stored.exists else "0",
        "article.updated" if updating else "article.published",
        "updated" if updating else "created",
        *plan.args(),
    ]


def _ms(moment: Any) -> int:
    return int(moment.timestamp() * 1000)


def _held(raw: str | None) -> dict[str, list[Any]]:
    """The stored `targets` map: target name → [fingerprint, part, bytes, keep retractions]."""
    if not raw:
        return {}
    decoded = orjson.loads(raw)
    if isinstance(decoded, list):
        # Written before targets had fingerprints: a plain list of names, all of them owed.
        return {name: ["", 0, 0, 0] for name in decoded}
    return decoded


def _int(value: object) -> int:
    """A part or byte count as stored (a number, or text from an older writer)."""
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
