"""Feed targets at write time: sections and tags are the site's, an author feed belongs to its
publisher, and only the site publisher's articles propose display names."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from services.cli.rebuild import select_targets
from shared.article import Article
from shared.kinds.feed import (
    INDEX,
    FeedKind,
    FeedTarget,
    NotAFeed,
    named_target,
    parse,
    publisher_slug,
    renamed,
    target_of_path,
)
from shared.kinds.registry import Registry
from shared.settings import Settings
from shared.state.article_reader import ArticleReader

SETTINGS = Settings(site_publisher="newsroom")


def article(raw: dict[str, Any], **changes: Any) -> Article:
    return Article.model_validate({**raw, **changes}, context={"default_language": "tr"})


def labels(entries: list) -> dict[str, str | None]:
    return {entry.name: entry.label for entry in entries if entry.name != INDEX}


def test_the_site_publishers_article_reaches_the_short_author_feed_and_names_its_feeds(
    seed_article,
):
    kind = FeedKind(SETTINGS, lambda: 0.0)
    found = labels(kind.owned_entries(article(seed_article), "newsroom"))
    assert found["feed:author:dis-haberler-servisi"] == "Dış Haberler Servisi"
    assert found["feed:section:dunya"] == "Dünya"
    assert found["feed:tag:agit"] == "AGİT"
    # Without a publisher, as `Kind.entries` asks: the site's.
    assert labels(kind.entries(article(seed_article))) == found


def test_another_publishers_article_reaches_its_own_author_feed_and_names_nothing(seed_article):
    kind = FeedKind(SETTINGS, lambda: 0.0)
    found = labels(kind.owned_entries(article(seed_article), "other"))
    assert "feed:author:dis-haberler-servisi" not in found
    assert "feed:author:other:dis-haberler-servisi" in found
    # Sections and tags are the site's taxonomy: the same feeds, whoever writes.
    assert {"feed:all", "feed:section:dunya", "feed:tag:nato", "feed:tag:agit"} <= set(found)
    assert set(found.values()) == {None}


def test_the_registry_passes_the_publisher_to_every_kind(seed_article):
    registry = Registry.from_settings(SETTINGS)
    names = {entry.name for entry in registry.entries(article(seed_article), "other")}
    assert "feed:author:other:dis-haberler-servisi" in names
    assert "sitemap:2026-01" in names  # kinds that do not care are asked all the same


def test_without_a_site_publisher_every_publishers_author_feeds_are_its_own(seed_article):
    kind = FeedKind(Settings(), lambda: 0.0)
    found = labels(kind.owned_entries(article(seed_article), "newsroom"))
    assert "feed:author:newsroom:dis-haberler-servisi" in found
    assert set(found.values()) == {None}


@pytest.mark.parametrize(
    ("target", "stem"),
    [
        (FeedTarget("all"), "feeds/all"),
        (FeedTarget("section", "dunya"), "feeds/sections/dunya"),
        (FeedTarget("tag", "nato"), "feeds/tags/nato"),
        (FeedTarget("author", "ayse-yilmaz"), "feeds/authors/ayse-yilmaz"),
        (
            FeedTarget("author", "ayse-yilmaz", "other"),
            "feeds/publishers/other/authors/ayse-yilmaz",
        ),
        (
            FeedTarget("author", "ayse", publisher_slug("Diğer Ajans")),
            f"feeds/publishers/{publisher_slug('Diğer Ajans')}/authors/ayse",
        ),
    ],
)
def test_names_and_paths_round_trip(target: FeedTarget, stem: str) -> None:
    assert parse(target.name) == target
    assert target.path_stem == stem
    assert target_of_path(stem) == target


@pytest.mark.parametrize(
    "name",
    [
        "feed:author:",
        "feed:author:Other:ayse",  # a publisher segment is a slug
        "feed:author:other:ayse:yilmaz",
        "feed:author:other:",
        "feed:section:other:dunya",  # only author feeds have publishers
        "feed:tag:a--b",
        "feed:publishers:other",
    ],
)
def test_malformed_feed_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown target"):
        parse(name)


@pytest.mark.parametrize(
    "stem",
    ["feeds/publishers/other/sections/dunya", "feeds/publishers/other/authors", "feeds/x/y"],
)
def test_paths_of_no_feed_are_none(stem: str) -> None:
    assert target_of_path(stem) is None


def test_publisher_slugs_never_coincide() -> None:
    publishers = ["other", "Other", "OTHER", "other ", "öther", "Diğer Ajans", "🤡", "", "a--b"]
    slugs = [publisher_slug(p) for p in publishers]
    assert len(set(slugs)) == len(publishers)
    assert slugs[0] == "other"  # a slug stays as it is: readable URLs
    for slug in slugs:
        assert parse(f"feed:author:{slug}:ayse").publisher == slug


def test_an_operator_names_a_feed_by_kind_and_slug() -> None:
    assert named_target("section", "secim-masasi").name == "feed:section:secim-masasi"
    assert named_target("author", "ayse", "other").name == "feed:author:other:ayse"
    assert renamed(named_target("tag", "nato")) == ["feed:tag:nato", INDEX]
    for args, part in [
        (("sections", "dunya"), "kind"),
        (("section", "Dünya"), "slug"),
        (("section", ""), "slug"),
        (("section", "dunya", "other"), "publisher"),
        (("author", "ayse", " "), "publisher"),
    ]:
        with pytest.raises(NotAFeed) as refused:
            named_target(*args)
        assert refused.value.part == part
    with pytest.raises(NotAFeed, match="did you mean 'secim-masasi'"):
        named_target("section", "Seçim Masası")


def test_rebuild_by_kind_knows_every_publishers_author_feeds(settings, write, seed_article):
    write(seed_article)
    other = {**seed_article, "id": "baska", "url": "https://haber.example.com.tr/baska"}
    assert write(other, publisher="other").status == "created"
    registry = Registry.from_settings(settings)
    reader = ArticleReader(redis.Redis.from_url(settings.redis_url))
    known = select_targets(registry, reader, [], ["feed"])  # `newswire rebuild --kind feed`
    assert {"feed:author:dis-haberler-servisi", "feed:author:other:dis-haberler-servisi"} <= set(
        known
    )
    assert known[-1] == INDEX
    assert select_targets(registry, reader, ["feed:author:other:dis-haberler-servisi"], []) == [
        "feed:author:other:dis-haberler-servisi"
    ]
