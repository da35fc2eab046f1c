"""Memory bounded in bytes: the byte-bounded cache, and the worker caches built on it filled
with 1 MB article bodies (parsed articles, rendered feed entries)."""

from __future__ import annotations

import gc
import random
import tracemalloc
from typing import Any

import pytest
import redis

from services.render.feed import formats
from services.render.feed.model import FeedTarget, build_feed
from shared.article import Article
from shared.bounded_cache import BoundedCache, approximate_size
from shared.settings import Settings
from shared.state.article_reader import ArticleReader

MB = 1024 * 1024


def big_article(raw: dict[str, Any], n: int) -> dict[str, Any]:
    """An article whose body is about 1 MB of Turkish text (2 bytes a character in memory)."""
    paragraph = "<p>Dışişleri Bakanı İstanbul'da konuştu; görüşme sürüyor.</p>"
    body = paragraph * ((1_000_000 - 100) // len(paragraph.encode()))
    return {**raw, "id": f"big-{n}", "title": f"Uzun haber {n}", "body_html": body}


def test_least_recently_used_go_first_and_the_total_never_passes_the_budget() -> None:
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    cache: BoundedCache[int, str] = BoundedCache(max_bytes=10_000)
    for _ in range(2000):
        key = rng.randrange(50)
        if rng.random() < 0.3:
            cache.get(key)
        else:
            cache.put(key, "x", rng.randrange(1, 4000))
        assert cache.bytes <= 10_000, f"seed {seed}"
    cache.put("a", "a", 4000)  # type: ignore[arg-type]
    cache.put("b", "b", 4000)  # type: ignore[arg-type]
    assert cache.get("a") == "a"  # type: ignore[arg-type]
    cache.put("c", "c", 4000)  # type: ignore[arg-type]
    assert cache.get("b") is None  # type: ignore[arg-type]  # least recently used
    assert cache.entries == 2 and cache.bytes == 8000


def test_a_value_over_the_budget_is_not_kept_and_shrinking_evicts() -> None:
    cache: BoundedCache[str, str] = BoundedCache(max_bytes=100)
    cache.put("big", "v", 101)
    assert cache.get("big") is None and cache.bytes == 0
    for key in "abcd":
        cache.put(key, key, 25)
    cache.resize(50)
    assert cache.entries == 2 and cache.bytes == 50
    assert cache.get("d") == "d" and cache.get("a") is None


def test_approximate_size_counts_what_a_model_holds(seed_article) -> None:
    article = Article.model_validate(big_article(seed_article, 0))
    size = approximate_size(article)
    body = len(article.body_html)  # characters; Turkish ones take 2 bytes each in memory
    assert 2 * body <= size < 3 * body


def test_parsed_articles_stay_within_the_reader_budget(settings, write, seed_article) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    ids = [write(big_article(seed_article, n)).id for n in range(12)]
    reader = ArticleReader(client, cache_bytes=5 * MB)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for article_id in ids:  # 12 articles of ~2 MB parsed, through a 5 MB budget
            assert reader.article(article_id).status == "visible"
            assert reader.cache.bytes <= 5 * MB
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert 1 <= reader.cache.entries < len(ids)
    # What the process really holds is what the cache says, give or take: the estimate is
    # honest (measured by tracemalloc, not taken from the cache's own count).
    assert held <= 5 * MB * 1.2, f"{held / MB:.1f} MB held for a 5 MB budget"
    print(
        f"reader cache: {reader.cache.entries} entries, {reader.cache.bytes / MB:.2f} MB "
        f"counted, {held / MB:.2f} MB traced"
    )


@pytest.fixture
def entry_cache() -> Any:
    """The feed entry cache with an 8 MB budget, as the worker's settings would set it."""
    cache = formats.ENTRY_CACHE
    previous = cache.max_bytes
    cache.clear()
    cache.resize(8 * MB)
    yield cache
    cache.clear()
    cache.resize(previous)


def test_rendered_entries_stay_within_their_budget(entry_cache, seed_article) -> None:
    articles = [Article.model_validate(big_article(seed_article, n)) for n in range(10)]
    target, settings = FeedTarget("section", "dunya"), Settings()
    for article in articles:  # ten ~1 MB entries in RSS and Atom through an 8 MB budget
        feed = build_feed(target, [article], "Dünya", settings)
        assert approximate_size(feed.items[0]) > 1 * MB
        formats.render_rss(feed)
        formats.render_atom(feed)
        assert entry_cache.bytes <= 8 * MB
    assert 1 <= entry_cache.entries < 20
