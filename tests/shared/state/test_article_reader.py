"""What builds read: the visible articles of a target, parsed once per version."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import redis

from shared.state.article_reader import ArticleReader

TARGET = "feed:section:dunya"


def version(seed: dict[str, Any], n: int, edit: int = 0) -> dict[str, Any]:
    published = datetime.fromisoformat(seed["published_at"]) + timedelta(minutes=n)
    return {
        **seed,
        "id": f"okuma-{n}",
        "url": f"https://haber.example.com.tr/dunya/okuma-{n}",
        "title": f"Haber {n}" + (f" (güncelleme {edit})" if edit else ""),
        "published_at": published.isoformat(),
        "updated_at": (published + timedelta(minutes=edit)).isoformat(),
    }


def document_reads(client: redis.Redis) -> int:
    """HMGETs Redis has served: how the reader fetches whole documents."""
    return int(client.info("commandstats").get("cmdstat_hmget", {}).get("calls", 0))


def test_newest_first_and_documents_read_only_when_new_or_changed(
    settings, write, retract, seed_article
) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    for n in range(5):
        write(version(seed_article, n))
    reader = ArticleReader(client)

    first = reader.visible(TARGET, 3)
    assert [a.id for a in first] == ["okuma-4", "okuma-3", "okuma-2"]

    before = document_reads(client)
    again = reader.visible(TARGET, 3)
    assert [a.title for a in again] == [a.title for a in first]
    assert document_reads(client) == before  # every article parsed already, at its digest

    write(version(seed_article, 3, edit=1))
    before = document_reads(client)  # (writing reads too, inside its script)
    edited = reader.visible(TARGET, 3)
    assert [a.title for a in edited] == ["Haber 4", "Haber 3 (güncelleme 1)", "Haber 2"]
    assert document_reads(client) == before + 1  # only the changed one read whole

    retract("okuma-4")
    assert [a.id for a in reader.visible(TARGET, 3)] == ["okuma-3", "okuma-2", "okuma-1"]


def test_a_fresh_reader_sees_what_a_warm_one_sees(settings, write, seed_article) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    for n in range(4):
        write(version(seed_article, n))
    warm = ArticleReader(client)
    warm.visible(TARGET, 10)
    write(version(seed_article, 1, edit=2))
    assert warm.visible(TARGET, 10) == ArticleReader(client).visible(TARGET, 10)
