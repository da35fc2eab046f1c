"""Articles in Redis: the atomic write-plus-event step (async, for ingest) and the reads
that builds make (sync, for workers)."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Literal

import redis
import redis.asyncio

from shared import keys
from shared.models import Article
from shared.settings import Settings
from shared.targets import display_names, targets_for

WriteStatus = Literal[
    "created", "updated", "unchanged", "stale", "retracted", "forbidden", "not_found"
]

_INDEX_PREFIX = keys.INDEX.format(target="")
_ARTICLE_PREFIX = keys.ARTICLE.format(id="")


@cache
def _lua(name: str) -> str:
    return files("shared.lua").joinpath(name).read_text()


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

    def __init__(self, client: redis.asyncio.Redis, settings: Settings) -> None:
        self._redis = client
        self._stream = settings.events_stream
        self._maxlen = settings.events_maxlen
        self._upsert = client.register_script(_lua("upsert.lua"))
        self._retract = client.register_script(_lua("retract.lua"))

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
        return {
            "keys": [keys.article(article.id), self._stream, keys.EMBARGO, keys.NAMES],
            "args": [
                article.id,
                doc,
                digest,
                _ms(article.modified),
                _ms(article.published_at),
                publisher,
                json.dumps(targets_for(article)),
                json.dumps(display_names(article), ensure_ascii=False),
                self._maxlen,
                _INDEX_PREFIX,
            ],
        }

    async def retract(self, article_id: str, publisher: str) -> WriteResult:
        """Take `article_id` out of every output; a second call changes nothing."""
        reply = await self._retract(
            keys=[keys.article(article_id), self._stream, keys.EMBARGO],
            args=[article_id, publisher, self._maxlen, _INDEX_PREFIX],
        )
        return _result(article_id, reply)

    async def get(self, article_id: str) -> tuple[Article | None, dict[str, str]]:
        """The stored article (None once retracted) and its bookkeeping fields."""
        fields = await self._redis.hgetall(keys.article(article_id))
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


class ArticleReader:
    """What a build sees: the visible articles of a target, newest first.

    Parsed articles are kept by (id, digest): an unchanged article is read by every build of
    every feed it is in, and parsing it each time was a large share of a build.
    """

    def __init__(self, client: redis.Redis, cache_size: int = 10_000) -> None:
        self._redis = client
        self._parsed: OrderedDict[tuple[bytes, bytes], Article] = OrderedDict()
        self._cache_size = cache_size

    def now_ms(self) -> int:
        """Redis's clock: the one clock that ingest, the sweeper and builds all agree on."""
        seconds, micros = self._redis.time()
        return seconds * 1000 + micros // 1000

    def visible(self, target: str, limit: int) -> list[Article]:
        """The latest `limit` articles of `target` whose publish time has come."""
        ids = self._redis.zrevrangebyscore(
            keys.INDEX.format(target=target), self.now_ms(), "-inf", start=0, num=limit
        )
        pipe = self._redis.pipeline(transaction=False)
        for article_id in ids:
            pipe.hmget(_ARTICLE_PREFIX + article_id.decode(), "hash", "doc")
        return [
            self._parse(article_id, digest, doc)
            for article_id, (digest, doc) in zip(ids, pipe.execute() if ids else [], strict=True)
            if doc
        ]

    def _parse(self, article_id: bytes, digest: bytes, doc: bytes) -> Article:
        key = (article_id, digest)
        article = self._parsed.get(key)
        if article is None:
            article = Article.model_validate_json(doc, context={"stored": True})
            self._parsed[key] = article
            if len(self._parsed) > self._cache_size:
                self._parsed.popitem(last=False)
        else:
            self._parsed.move_to_end(key)
        return article

    def display_name(self, target: str) -> str | None:
        name = self._redis.hget(keys.NAMES, target)
        return name.decode() if name else None


class EmbargoRelease:
    """Lifts embargoes whose time has come, one `article.published` event for each."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._script = client.register_script(_lua("release.lua"))
        self._keys = [keys.EMBARGO, settings.events_stream]
        self._maxlen = settings.events_maxlen

    def release_due(self, limit: int = 500) -> int:
        """Returns how many articles were released."""
        return int(self._script(keys=self._keys, args=[_ARTICLE_PREFIX, self._maxlen, limit]))
