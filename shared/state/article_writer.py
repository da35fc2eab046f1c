"""The atomic write-plus-event step for articles: upserts and retractions (async, for ingest
and `newswire import`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Literal

import redis.asyncio
from redis.exceptions import NoScriptError

from shared.article import Article
from shared.kinds.entries import TargetEntry
from shared.settings import Settings
from shared.state import redis_keys
from shared.state.upsert_plan import PLAN_FIELDS, Known, Stored, Wanted, refusal, script_args

WriteStatus = Literal[
    "created", "updated", "unchanged", "stale", "retracted", "forbidden", "not_found"
]
# Which targets show an article of a publisher, and what each keeps of it: the kind
# registry's answer (`Registry.entries`).
EntriesFor = Callable[[Article, str], Sequence[TargetEntry]]


@cache
def lua(name: str) -> str:
    """A script from shared/state/lua; the write scripts get the target-index functions in front."""
    source = files("shared.state.lua").joinpath(name).read_text()
    if name in ("upsert.lua", "retract.lua"):
        source = files("shared.state.lua").joinpath("targets.lua").read_text() + source
    return source


@dataclass(frozen=True)
class WriteResult:
    """The outcome of one write; `event_id` is empty when no event was appended."""

    id: str
    status: WriteStatus
    revision: int
    event_id: str = ""


class ArticleWriter:
    """Upserts and retractions, each stored together with its event in one Lua call.

    An upsert reads the article's bookkeeping first and plans the write in Python (Redis's one
    thread runs every script, so the less each does, the more writes it serves); the script
    applies the plan only if the article's revision is still the one planned against, and the
    writer reads and plans again if it is not.
    """

    def __init__(
        self, client: redis.asyncio.Redis, settings: Settings, entries_for: EntriesFor
    ) -> None:
        self._redis = client
        self._stream = settings.events_stream
        self._site_publisher = settings.site_publisher or ""
        self._entries_for = entries_for
        self._upsert = client.register_script(lua("upsert.lua"))
        self._retract = client.register_script(lua("retract.lua"))
        # The names the scripts give a target's keys: the same for every call.
        self._target_keys = redis_keys.target_families()

    async def upsert(self, article: Article, publisher: str) -> WriteResult:
        """Store `article` for `publisher` unless it is unchanged, stale or not theirs."""
        [result] = await self.upsert_many([article], publisher)
        return result

    async def upsert_many(self, articles: Sequence[Article], publisher: str) -> list[WriteResult]:
        """Upsert several articles in two round trips (a read, then the writes); each is still
        its own atomic step, applied in the order given."""
        wanted = [
            Wanted(a, publisher, *a.serialized(), self._entries_for(a, publisher)) for a in articles
        ]
        results: dict[int, WriteResult] = {}
        pending = list(range(len(wanted)))
        for _ in range(_MAX_ROUNDS):
            if not pending:
                return [results[i] for i in range(len(wanted))]
            # One write per id a round: a later write of the same id is planned against the
            # revision the earlier one leaves, as if each had been sent alone.
            first: dict[str, int] = {}
            for i in pending:
                first.setdefault(wanted[i].article.id, i)
            now = list(first.values())
            retry = await self._round([wanted[i] for i in now], publisher)
            for i, result in zip(now, retry, strict=True):
                if result is not None:
                    results[i] = result
            pending = [i for i in pending if i not in results]
        raise RuntimeError(f"articles rewritten concurrently {_MAX_ROUNDS} times in a row")

    async def _round(self, wanted: list[Wanted], publisher: str) -> list[WriteResult | None]:
        """Read, plan and write each of `wanted` (distinct ids) once: its result, or None
        where another write landed between the read and the script."""
        pipe = self._redis.pipeline(transaction=False)
        for one in wanted:
            pipe.hmget(redis_keys.article(one.article.id), *PLAN_FIELDS)
        names = sorted({e.name for one in wanted for e in one.entries})
        labelled = sorted({e.name for one in wanted for e in one.entries if e.label is not None})
        names_targets = self._site_publisher != "" and publisher == self._site_publisher
        if not names_targets:
            labelled = []  # only the site's articles name feeds (see upsert.lua)
        if names:
            pipe.smismember(redis_keys.TARGETS, names)
        if labelled:
            pipe.hmget(redis_keys.NAMES, labelled)
        replies = await pipe.execute()
        extra = replies[len(wanted) :]
        known = Known(
            {n for n, m in zip(names, extra.pop(0), strict=True) if m} if names else set(),
            {n for n, v in zip(labelled, extra.pop(0), strict=True) if v is not None}
            if labelled
            else set(),
        )
        results: list[WriteResult | None] = [None] * len(wanted)
        writes = []
        pipe = self._redis.pipeline(transaction=False)
        for i, (one, values) in enumerate(zip(wanted, replies, strict=False)):
            stored = Stored.read(values)
            refused = refusal(one, stored)
            if refused is not None:
                results[i] = WriteResult(one.article.id, refused, stored.rev)
                continue
            args = script_args(one, stored, known, names_targets) + self._target_keys
            keys = self._upsert_keys(one.article.id)
            # EVALSHA itself: a script registered on a pipeline costs a SCRIPT EXISTS round
            # trip at every execute. A server without it (restarted) answers NOSCRIPT.
            pipe.evalsha(self._upsert.sha, len(keys), *keys, *args)
            writes.append(i)
        if writes:
            replies = await pipe.execute(raise_on_error=False)
            if any(isinstance(reply, NoScriptError) for reply in replies):
                await self._redis.script_load(self._upsert.script)
            for i, reply in zip(writes, replies, strict=True):
                if isinstance(reply, NoScriptError):
                    continue  # not run: read and plan again, now that the script is there
                if isinstance(reply, Exception):
                    raise reply
                if _text(reply[0]) != "moved":  # else written meanwhile: read and plan again
                    results[i] = _result(wanted[i].article.id, reply)
        return results

    def _upsert_keys(self, article_id: str) -> list[str]:
        return [
            redis_keys.article(article_id),
            self._stream,
            redis_keys.SWEEP,
            redis_keys.NAMES,
            redis_keys.TARGETS,
            redis_keys.DIGESTS,
        ]

    async def retract(self, article_id: str, publisher: str) -> WriteResult:
        """Take `article_id` out of every output; a second call changes nothing."""
        reply = await self._retract(
            keys=[
                redis_keys.article(article_id),
                self._stream,
                redis_keys.SWEEP,
                redis_keys.DIGESTS,
            ],
            args=[article_id, publisher, *self._target_keys],
        )
        return _result(article_id, reply)

    async def get(self, article_id: str) -> tuple[Article | None, dict[str, str]]:
        """The stored article (None once retracted) and its bookkeeping fields."""
        fields = await self._redis.hgetall(redis_keys.article(article_id))
        meta = {k.decode(): v.decode() for k, v in fields.items() if k != b"doc"}
        doc = fields.get(b"doc")
        return (Article.model_validate_json(doc) if doc else None), meta


# Rounds of read-plan-write before an upsert gives up on an article others keep rewriting.
_MAX_ROUNDS = 50


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _result(article_id: str, reply: list[bytes | int]) -> WriteResult:
    status, revision, event_id = reply
    return WriteResult(
        id=article_id,
        status=status.decode() if isinstance(status, bytes) else status,  # type: ignore[arg-type]
        revision=int(revision),
        event_id=event_id.decode() if isinstance(event_id, bytes) else str(event_id),
    )
