"""What builds read: articles and target indexes as they are now, by Redis's clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import redis

from shared.article import Article
from shared.bounded_cache import BoundedCache, approximate_size
from shared.state import redis_keys
from shared.state.article_writer import lua
from shared.state.dead_letters import DeadLetters
from shared.state.display_names import every_name, shown_name
from shared.state.script_calls import ScriptCall

_ARTICLE_PREFIX = redis_keys.article("")
EMPTY: Mapping[str, str] = MappingProxyType({})

ArticleStatus = Literal["visible", "embargoed", "retracted", "missing"]
# The ids a feed read found and their digests (None where the digest hash has none).
Seen = tuple[tuple[bytes, ...], tuple[bytes | None, ...]]


@dataclass(frozen=True)
class StoredArticle:
    """One article as stored; `article` is None unless it is visible or embargoed."""

    status: ArticleStatus
    article: Article | None = None
    retracted_ms: int | None = None


@dataclass(frozen=True)
class FeedView:
    """One feed as a build reads it (`ArticleReader.feed_view`)."""

    articles: list[Article]
    retractions: list[tuple[str, int]]  # (article id, retracted at in ms), newest first
    name: str | None  # the feed's display name
    now_ms: int  # Redis's clock when it was read
    seen: Seen  # what `ArticleReader.unchanged` compares with


class ArticleReader:
    """Reads for builds. Visible means published at or before Redis's clock.

    Parsed articles are kept by (id, digest): an unchanged article is read by every build of
    every feed it is in, and parsing it each time was a large share of a build. `cache`
    holds them within `cache_bytes` (its `bytes` and `entries` say how full it is).
    """

    def __init__(self, client: redis.Redis, cache_bytes: int = 64 * 1024 * 1024) -> None:
        self._redis = client
        self._read_script = client.register_script(lua("feed_read.lua"))
        self._article_script = client.register_script(lua("article_read.lua"))
        self.cache: BoundedCache[tuple[bytes, bytes], Article] = BoundedCache(cache_bytes)

    def now_ms(self) -> int:
        """Redis's clock: the one clock that ingest, the sweeper and builds all agree on."""
        seconds, micros = self._redis.time()
        return seconds * 1000 + micros // 1000

    def visible(self, target: str, limit: int) -> list[Article]:
        """The latest `limit` articles of `target` whose publish time has come."""
        ids = self._visible_ids(target, limit)
        if not ids:
            return []
        # Digests first: an article already parsed at its digest is not read again (a feed
        # build reads fifty documents of kilobytes each, twice); only new or changed ones are.
        return self._articles(ids, self._redis.hmget(redis_keys.DIGESTS, ids))

    def feed_view(
        self,
        target: str,
        limit: int,
        retractions_ms: int,
        configured: Mapping[str, str] = EMPTY,
    ) -> FeedView:
        """What a build of feed `target` shows: its latest `limit` visible articles, the
        retractions of the last `retractions_ms` (older ones are dropped), and its display
        name (as `display_name`). One round trip, and one more to read the documents of new
        or changed articles."""
        call = self.feed_read(target, limit, retractions_ms)
        return self.feed_view_of(target, call.run(self._redis), configured)

    def feed_read(self, target: str, limit: int, retractions_ms: int | None) -> ScriptCall:
        """The script call `feed_view` sends, to send in another's round trip (`feed_view_of`
        reads its reply); with `retractions_ms` None it reads no retractions or names, as
        `unchanged` needs none."""
        keys = (
            redis_keys.index(target),
            redis_keys.DIGESTS,
            redis_keys.RETRACTED.format(target=target),
            redis_keys.ADMIN_NAMES,
            redis_keys.NAMES,
        )
        extras = retractions_ms is not None
        args = (limit, "1" if extras else "0", retractions_ms or 0, target)
        return ScriptCall(self._read_script, keys, args, reads=True)

    def feed_view_of(
        self, target: str, reply: Any, configured: Mapping[str, str] = EMPTY
    ) -> FeedView:
        """The `FeedView` of a `feed_read` call's reply."""
        now, ids, digests, gone, admin, site = reply
        retractions = [
            (article_id.decode(), int(float(ms)))
            for article_id, ms in zip(gone[::2], gone[1::2], strict=True)
        ]
        shown = shown_name(_text(admin or None), configured.get(target), _text(site or None))
        return FeedView(
            articles=self._articles(ids, list(digests)) if ids else [],
            retractions=retractions,
            name=shown[0] if shown else None,
            now_ms=int(now),
            seen=(tuple(ids), tuple(digests)),
        )

    def unchanged(self, target: str, limit: int, seen: Seen) -> bool:
        """Whether `target` would show the articles of a `feed_view` that read `seen`: the
        same ids at the same digests, by Redis's clock now. One round trip."""
        _, ids, digests, *_ = self.feed_read(target, limit, None).run(self._redis)
        return (tuple(ids), tuple(digests)) == seen

    def _articles(self, ids: list[bytes], digests: list[bytes | None]) -> list[Article]:
        """The articles of `ids` (with their `digests` from the digest hash, None where it
        has none), in order, parsed once per digest; unreadable ones are left out."""
        # An article stored before the digest hash existed has no entry there, and its own
        # hash says.
        older = [i for i, digest in enumerate(digests) if digest is None]
        if older:
            digests = list(digests)
            pipe = self._redis.pipeline(transaction=False)
            for i in older:
                pipe.hget(_ARTICLE_PREFIX + ids[i].decode(), "hash")
            for i, digest in zip(older, pipe.execute(), strict=True):
                digests[i] = digest
        found: dict[bytes, Article | None] = {}
        unread = []
        for article_id, digest in zip(ids, digests, strict=True):
            cached = self.cache.get((article_id, digest)) if digest else None
            if cached is None:
                unread.append(article_id)
            else:
                found[article_id] = cached
        if unread:
            pipe = self._redis.pipeline(transaction=False)
            for article_id in unread:
                pipe.hmget(_ARTICLE_PREFIX + article_id.decode(), "hash", "doc")
            for article_id, (digest, doc) in zip(unread, pipe.execute(), strict=True):
                if doc:
                    found[article_id] = self._parse(article_id, digest, doc)
        return [article for article in map(found.get, ids) if article is not None]

    def _visible_ids(self, target: str, limit: int) -> list[bytes]:
        """The ids of the latest `limit` entries of `target`'s index published by now.

        Redis's clock and the newest entries come in one round trip; only when some of those
        are still under embargo is the index read again, up to the clock's time."""
        index = redis_keys.index(target)
        pipe = self._redis.pipeline(transaction=False)
        pipe.time()
        pipe.zrevrangebyscore(index, "+inf", "-inf", start=0, num=limit, withscores=True)
        (seconds, micros), newest = pipe.execute()
        now = seconds * 1000 + micros // 1000
        if all(score <= now for _, score in newest):
            return [article_id for article_id, _ in newest]
        return self._redis.zrevrangebyscore(index, now, "-inf", start=0, num=limit)

    def article(self, article_id: str) -> StoredArticle:
        """One article by id, with what its state means for output."""
        return self.article_of(article_id, self.article_read(article_id).run(self._redis))

    def article_read(self, article_id: str) -> ScriptCall:
        """The script call `article` sends (its fields and the clock), to send in another's
        round trip; `article_of` reads its reply."""
        return ScriptCall(self._article_script, (redis_keys.article(article_id),), (), reads=True)

    def article_of(self, article_id: str, reply: Any) -> StoredArticle:
        """The `StoredArticle` of an `article_read` call's reply."""
        digest, doc, published, retracted, retracted_at, seconds, micros = reply
        if retracted == b"1":
            return StoredArticle("retracted", retracted_ms=int(retracted_at or 0))
        if doc is None:
            return StoredArticle("missing")
        article = self._parse(article_id.encode(), digest, doc)
        if article is None:
            return StoredArticle("missing")
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        status: ArticleStatus = "visible" if int(published) <= now_ms else "embargoed"
        return StoredArticle(status, article)

    def payloads(
        self,
        target: str,
        part: int | None = None,
        *,
        since_ms: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[tuple[str, str]]:
        """(id, payload) of the visible entries of a target's index (or of one of its parts),
        oldest first unless `newest_first`."""
        now, low = self.now_ms(), "-inf" if since_ms is None else since_ms
        page = {} if limit is None else {"start": 0, "num": limit}
        if newest_first:
            ids = self._redis.zrevrangebyscore(redis_keys.index(target, part), now, low, **page)
        else:
            ids = self._redis.zrangebyscore(redis_keys.index(target, part), low, now, **page)
        if not ids:
            return []
        found = self._redis.hmget(redis_keys.payloads(target, part), ids)
        return [(i.decode(), p.decode()) for i, p in zip(ids, found, strict=True) if p is not None]

    def parts(self, target: str) -> list[int]:
        """The parts a sharded target's index has ever had, in order."""
        return sorted(
            int(part) for part in self._redis.hkeys(redis_keys.SHARDS.format(target=target))
        )

    def targets(self, prefix: str) -> list[str]:
        """Every target name starting with `prefix` that an article was ever written to."""
        found = self._redis.sscan_iter(
            redis_keys.TARGETS, match=_glob_escape(prefix) + "*", count=1000
        )
        return sorted({name.decode() for name in found})

    def display_name(self, target: str, configured: Mapping[str, str] = EMPTY) -> str | None:
        """The target's display name (see `shared.state.display_names`): an admin's, else
        `configured` (the site's settings), else the one the site publisher's first article
        in it gave it; None if it has none."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hget(redis_keys.ADMIN_NAMES, target)
        pipe.hget(redis_keys.NAMES, target)
        admin, first = pipe.execute()
        shown = shown_name(_text(admin), configured.get(target), _text(first))
        return shown[0] if shown else None

    def display_names(self, configured: Mapping[str, str] = EMPTY) -> dict[str, str]:
        """Every named target's display name: "feed:section:dunya" → "Dünya", by the same
        precedence as `display_name`."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(redis_keys.NAMES)
        pipe.hgetall(redis_keys.ADMIN_NAMES)
        first, admin = pipe.execute()
        named = every_name(_decoded(admin), configured, _decoded(first))
        return {feed.target: feed.name for feed in named}

    def _parse(self, article_id: bytes, digest: bytes, doc: bytes) -> Article | None:
        """The stored article, or None if its document cannot be read (then it is left out
        of what builds read, and kept as a dead letter, so one bad document never stops the
        feeds it is in)."""
        key = (article_id, digest)
        article = self.cache.get(key)
        if article is None:
            try:
                article = Article.model_validate_json(doc, context={"stored": True})
            except ValueError as exc:  # pydantic's ValidationError: not JSON, or not an Article
                letters = DeadLetters(self._redis)
                letters.park_article(article_id.decode(), (digest or b"").decode(), exc)
                return None
            self.cache.put(key, article, approximate_size(article))
        return article


def _text(value: bytes | None) -> str | None:
    return value.decode() if value is not None else None


def _decoded(found: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in found.items()}


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
