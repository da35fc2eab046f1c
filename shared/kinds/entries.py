"""What an artifact kind asks the write step to keep about an article, per target.

Kinds (services/render/kinds/) describe targets; the write step (planned by
shared/state/upsert_plan.py, applied by shared/state/lua/upsert.lua) stores these entries
with the article and compares them with the previous revision's, so an event names exactly
the targets whose output changes, old ones included.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    """Split a target's index into stable parts of at most this many entries and bytes.

    An entry keeps its part for as long as it fits, so it never moves when others arrive.
    """

    max_items: int
    max_bytes: int


@dataclass(frozen=True)
class TargetEntry:
    """One target an article appears in, and what of the article that target shows."""

    name: str
    # A digest of what the target shows of the article: when it changes, the target rebuilds.
    fingerprint: str
    # Index the article under the target, ordered by this score (publish time in ms).
    score: int | None = None
    # Stored beside the index entry, so builds read it without loading the article.
    payload: str | None = None
    shard: Shard | None = None
    label: str | None = None  # the target's display name, e.g. "Dünya"
    # Keep a record of the article's retraction, for tombstones in the target's output.
    keep_retractions: bool = False
    # The target shows no article, only the names of others (the index page of feeds): a
    # new article's event names it only if the article names a target.
    shows_names: bool = False


def fingerprint(*parts: object) -> str:
    """A short digest of `parts`, for `TargetEntry.fingerprint`: each part's repr, each
    followed by a unit separator (hashed in one piece: it is on every write's path)."""
    text = "".join([repr(part) + "\x1f" for part in parts])
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
