"""The atomic write-plus-event step for articles: upserts and retractions (async, for ingest
and `newswire import`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Literal

import orjson
import redis.asyncio

from shared.article import Article
from shared.kinds.entries import TargetEntry
from shared.settings import Settings
from shared.state import redis_keys

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


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class WriteResult:
    """The outcome of one write; `event_id` is empty when no event was appended."""

    id: str
    status: WriteStatus
    revision: int
    event_id: str = ""


class ArticleWriter:
    """Upserts and retractions, each stored together with its event in one Lua call."""

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
        reply = await self._upsert(**self._upsert_call(article, publisher))
        return _result(article.id, reply)

    async def upsert_many(self, articles: Sequence[Article], publisher: str) -> list[WriteResult]:
        """Upsert several articles in one round trip; each is still its own atomic step."""
        pipe = self._redis.pipeline(transaction=False)
        for article in articles:
            await self._upsert(**self._upsert_call(article, publisher), client=pipe)
        replies = await pipe.execute()
        return [_result(a.id, reply) for a, reply in zip(articles, replies, strict=True)]

    def _upsert_call(self, article: Article, publisher: str) -> dict[str, list]:
        doc, digest = article.serialized()
        entries = [entry.to_wire() for entry in self._entries_for(article, publisher)]
        return {
            "keys": [
                redis_keys.article(article.id),
                self._stream,
                redis_keys.SWEEP,
                redis_keys.NAMES,
                redis_keys.TARGETS,
            ],
            "args": [
                article.id,
                doc,
                digest,
                _ms(article.modified),
                _ms(article.published_at),
                publisher,
                orjson.dumps(entries),
                self._site_publisher,
                *self._target_keys,
            ],
        }

    async def retract(self, article_id: str, publisher: str) -> WriteResult:
        """Take `article_id` out of every output; a second call changes nothing."""
        reply = await self._retract(
            keys=[redis_keys.article(article_id), self._stream, redis_keys.SWEEP],
            args=[article_id, publisher, *self._target_keys],
        )
        return _result(article_id, reply)

    async def get(self, article_id: str) -> tuple[Article | None, dict[str, str]]:
        """The stored article (None once retracted) and its bookkeeping fields."""
        fields = await self._redis.hgetall(redis_keys.article(article_id))
        meta = {k.decode(): v.decode() for k, v in fields.items() if k != b"doc"}
        doc = fields.get(b"doc")
        return (Article.model_validate_json(doc) if doc else None), meta


def _result(article_id: str, reply: list[bytes | int]) -> WriteResult:
    status, revision, event_id = reply
    return WriteResult(
        id=article_id,
        status=status.decode() if isinstance(status, bytes) else status,  # type: ignore[arg-type]
        revision=int(revision),
        event_id=event_id.decode() if isinstance(event_id, bytes) else str(event_id),
    )
