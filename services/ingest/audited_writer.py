"""The article writer ingest uses: it logs every write refused because the article belongs
to another publisher, naming both publishers, so an operator sees a misrouted key or a
newsroom system probing others' articles."""

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
        await self._log_refused([result], publisher, "retract")
        return result

    async def _log_refused(self, results: Sequence[WriteResult], publisher: str, verb: str) -> None:
        refused = [result.id for result in results if result.status == "forbidden"]
        if not refused:
            return
        pipe = self._redis.pipeline(transaction=False)
        for article_id in refused:
            pipe.hget(redis_keys.article(article_id), "publisher")
        for article_id, owner in zip(refused, await pipe.execute(), strict=True):
            log.warning(
                "refused: publisher %r tried to %s article %r, which belongs to publisher %r",
                publisher,
                verb,
                article_id,
                owner.decode() if owner else None,
            )
