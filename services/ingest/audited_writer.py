"""The article writer ingest uses. It logs every write refused because the article belongs
to another publisher, naming both publishers, so an operator sees a misrouted key or a
newsroom system probing others' articles; and it reads for a key only its own publisher's
articles, answering for another's exactly as for an id no one has."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from shared.article import Article
from shared.state import redis_keys
from shared.state.article_writer import ArticleWriter, WriteResult

log = logging.getLogger(__name__)


class AuditedWriter(ArticleWriter):
    async def upsert(self, article: Article, publisher: str) -> WriteResult:
        result = await super().upsert(article, publisher)
        await self._log_refused([result], publisher, "change")
        return result

    async def upsert_many(self, articles: Sequence[Article], publisher: str) -> list[WriteResult]:
        results = await super().upsert_many(articles, publisher)
        await self._log_refused(results, publisher, "change")
        return results

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
