"""The article writer ingest uses. Upserts that arrive together share round trips: each
waits for the event loop's next turn, and all that came in by then go to Redis in one
pipeline (each still its own atomic step). It logs every write refused because the article
belongs to another publisher, naming both publishers, so an operator sees a misrouted key or
a newsroom system probing others' articles; and it reads for a key only its own publisher's
articles, answering for another's exactly as for an id no one has."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from shared.article import Article
from shared.state import redis_keys
from shared.state.article_writer import ArticleWriter, WriteResult

log = logging.getLogger(__name__)

_Waiting = list[tuple[Article, "asyncio.Future[WriteResult]"]]


class AuditedWriter(ArticleWriter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Upserts waiting for the next flush, by publisher (a pipeline writes for one).
        self._waiting: dict[str, _Waiting] = {}
        self._flushes: set[asyncio.Task[None]] = set()  # referenced until done

    async def upsert(self, article: Article, publisher: str) -> WriteResult:
        result = await self._joined(article, publisher)
        await self._log_refused([result], publisher, "change")
        return result

    async def upsert_many(self, articles: Sequence[Article], publisher: str) -> list[WriteResult]:
        results = await super().upsert_many(articles, publisher)
        await self._log_refused(results, publisher, "change")
        return results

    def _joined(self, article: Article, publisher: str) -> asyncio.Future[WriteResult]:
        """`article`'s write, sent with every other upsert made before the loop turns. A
        request waits on Redis no longer than alone: flushes do not wait for each other."""
        loop = asyncio.get_running_loop()
        if not self._waiting:
            loop.call_soon(self._flush)
        future: asyncio.Future[WriteResult] = loop.create_future()
        self._waiting.setdefault(publisher, []).append((article, future))
        return future

    def _flush(self) -> None:
        waiting, self._waiting = self._waiting, {}
        for publisher, items in waiting.items():
            task = asyncio.ensure_future(self._write(publisher, items))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _write(self, publisher: str, items: _Waiting) -> None:
        try:
            results = await super().upsert_many([article for article, _ in items], publisher)
        except asyncio.CancelledError:
            for _, future in items:
                future.cancel()
            raise
        except Exception as exc:  # each request answers it as it would its own failure
            for _, future in items:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(items, results, strict=True):
            if not future.done():  # its request may be gone (cancelled)
                future.set_result(result)

    async def retract(self, article_id: str, publisher: str) -> WriteResult:
        result = await super().retract(article_id, publisher)
        # An unknown id is looked up too, so that a refusal takes no longer to answer.
        await self._log_refused([result], publisher, "retract", also=("not_found",))
        return result

    async def read_own(self, article_id: str, publisher: str) -> tuple[Article | None, int] | None:
        """`publisher`'s article of that id (None once retracted) and its revision, or None
        if it has none, whoever else may. Another's document is never read, so that the
        answer takes no longer for it than for an unknown id."""
        key = redis_keys.article(article_id)
        owner, revision = await self._redis.hmget(key, "publisher", "rev")
        if owner is None or owner.decode() != publisher:
            return None
        doc = await self._redis.hget(key, "doc")
        article = Article.model_validate_json(doc, context={"stored": True}) if doc else None
        return article, int(revision or 0)

    async def _log_refused(
        self,
        results: Sequence[WriteResult],
        publisher: str,
        verb: str,
        also: tuple[str, ...] = (),
    ) -> None:
        looked_up = [r for r in results if r.status == "forbidden" or r.status in also]
        if not looked_up:
            return
        pipe = self._redis.pipeline(transaction=False)
        for result in looked_up:
            pipe.hget(redis_keys.article(result.id), "publisher")
        for result, owner in zip(looked_up, await pipe.execute(), strict=True):
            if result.status != "forbidden":
                continue
            log.warning(
                "refused: publisher %r tried to %s article %r, which belongs to publisher %r",
                publisher,
                verb,
                result.id,
                owner.decode() if owner else None,
            )
