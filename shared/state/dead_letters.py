"""Dead letters of builds and articles: what was given up on, why, and since when.

    DEAD_BUILDS    hash  target → JSON BuildLetter (a target parked after failed builds)
    DEAD_ARTICLES  hash  article id → JSON ArticleLetter (a stored article that cannot be
                         read, left out of every output until it is written again)

(key names in shared/state/redis_keys.py)

A build letter is removed by the target's next successful build (in the coordinator's
script, atomically with the build's finish). An article letter names the stored revision
(its content hash) that failed, and is dropped once that revision is gone: listing drops it,
and counting (status, metrics) leaves it out by the same rule, so both agree.
"""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import asdict, dataclass

import redis

from shared.state import redis_keys

_TRACEBACK_LINES = 12  # the tail of a traceback kept with a letter


@dataclass(frozen=True)
class BuildLetter:
    """A target whose builds kept failing, parked."""

    target: str
    error: str  # exception type
    message: str
    traceback: str  # its tail
    attempts: int
    at: float  # seconds since the epoch


@dataclass(frozen=True)
class ArticleLetter:
    """A stored article that cannot be read, left out of its feeds and cards."""

    article_id: str
    digest: str  # the stored revision's content hash
    error: str
    message: str
    at: float


def describe(exc: BaseException) -> tuple[str, str, str]:
    """(type name, message, traceback tail) of an exception, for a letter."""
    lines = "".join(traceback.format_exception(exc)).rstrip().splitlines()
    message = str(exc).strip().splitlines()
    return type(exc).__name__, message[0] if message else "", "\n".join(lines[-_TRACEBACK_LINES:])


class DeadLetters:
    """The dead letters of builds and articles, in Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def park_build(self, target: str, attempts: int, exc: BaseException) -> BuildLetter:
        """Record that `target` was parked after `attempts` failed builds, the last with `exc`."""
        error, message, tail = describe(exc)
        letter = BuildLetter(target, error, message, tail, attempts, time.time())
        self._redis.hset(redis_keys.DEAD_BUILDS, target, json.dumps(asdict(letter)))
        return letter

    def park_article(self, article_id: str, digest: str, exc: BaseException) -> None:
        """Record that the stored revision `digest` of an article cannot be read. The first
        failure of a revision is kept (its time is when the trouble began)."""
        error, message, _ = describe(exc)
        letter = ArticleLetter(article_id, digest, error, message, time.time())
        current = self._redis.hget(redis_keys.DEAD_ARTICLES, article_id)
        if current is None or json.loads(current)["digest"] != digest:
            self._redis.hset(redis_keys.DEAD_ARTICLES, article_id, json.dumps(asdict(letter)))

    def builds(self) -> list[BuildLetter]:
        """Every parked target's letter, newest first."""
        found = [
            BuildLetter(**json.loads(raw)) for raw in self._redis.hvals(redis_keys.DEAD_BUILDS)
        ]
        return sorted(found, key=lambda letter: letter.at, reverse=True)

    def articles(self) -> list[ArticleLetter]:
        """Letters of articles whose failing revision is still the stored one, newest first.
        Letters of revisions written over or retracted since are dropped here."""
        current, stale = self._article_letters()
        if stale:
            self._redis.hdel(redis_keys.DEAD_ARTICLES, *[letter.article_id for letter in stale])
        return current

    def count(self) -> tuple[int, int]:
        """(parked targets, unreadable articles), for status and metrics: what `builds()`
        and `articles()` list. Read-only: stale article letters are left out, not dropped."""
        current, _ = self._article_letters()
        return int(self._redis.hlen(redis_keys.DEAD_BUILDS)), len(current)

    def current_articles(self) -> list[ArticleLetter]:
        """`articles()` without dropping stale letters (for readers that write nothing)."""
        return self._article_letters()[0]

    def _article_letters(self) -> tuple[list[ArticleLetter], list[ArticleLetter]]:
        """(current letters newest first, stale ones): one rule for listing and counting."""
        found = [
            ArticleLetter(**json.loads(r)) for r in self._redis.hvals(redis_keys.DEAD_ARTICLES)
        ]
        if not found:
            return [], []
        pipe = self._redis.pipeline(transaction=False)
        for letter in found:
            pipe.hmget(redis_keys.article(letter.article_id), "hash", "retracted")
        current, stale = [], []
        for letter, (digest, retracted) in zip(found, pipe.execute(), strict=True):
            still = (
                digest is not None and _text(digest) == letter.digest and _text(retracted) != "1"
            )
            (current if still else stale).append(letter)
        return sorted(current, key=lambda letter: letter.at, reverse=True), stale

    def clear(self) -> int:
        """Forget every build and article letter; returns how many there were. Parked targets
        stay idle until an event or a rebuild."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.hlen(redis_keys.DEAD_BUILDS)
        pipe.hlen(redis_keys.DEAD_ARTICLES)
        pipe.delete(redis_keys.DEAD_BUILDS, redis_keys.DEAD_ARTICLES)
        builds, articles, _ = pipe.execute()
        return int(builds) + int(articles)


def _text(value: bytes | str | None) -> str | None:
    # Clients made with decode_responses give str, others bytes.
    return value.decode() if isinstance(value, bytes) else value
