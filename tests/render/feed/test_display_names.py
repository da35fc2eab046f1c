"""Display names belong to the site: a feed shows an admin's name, else the configured one,
else the one the site publisher's first article gave it, else its slug.

Another publisher's article under the same slug ("\u202eDünya", "DÜNYA") shares the section
or tag feed but never names or renames it, first or not, in any format, on the feed's page or
on the index page; its bylines go to its own author feeds.
"""

from __future__ import annotations

import json
from typing import Any

import feedparser
import lxml.html
import pytest

from services.render.pipeline.builds import BuildContext
from services.render.pipeline.celery_app import make_context
from shared.kinds.feed import parse, renamed
from shared.settings import Settings
from shared.state.display_names import AdminNames
from tests.render.building import build

FORMATS = ("rss", "atom", "json", "html")


def titles(ctx: BuildContext, stem: str) -> dict[str, str]:
    """The feed's title in every format, as a reader of that format sees it."""
    found = {}
    for fmt in ("rss", "atom"):
        found[fmt] = feedparser.parse(ctx.store.get(f"{stem}.{fmt}").body).feed.title
    found["json"] = json.loads(ctx.store.get(f"{stem}.json").body)["title"]
    page = lxml.html.fromstring(ctx.store.get(f"{stem}.html").body)
    found["html"] = page.findtext(".//h1")
    return found


def index_names(ctx: BuildContext) -> list[str]:
    page = lxml.html.fromstring(ctx.store.get("index.html").body)
    return [a.text_content() for a in page.xpath("//a[@class='name']")]


def another(seed: dict[str, Any], n: int, **changes: Any) -> dict[str, Any]:
    return {**seed, "id": f"baska-{n}", "url": f"https://haber.example.com.tr/baska/{n}", **changes}


@pytest.mark.parametrize("spelling", ["\u202eDünya", "DÜNYA", "dünya", "Dunya"])
def test_another_publishers_spelling_does_not_rename_the_section(
    ctx, write, seed_article, spelling: str
) -> None:
    write(seed_article)  # publisher "newsroom": the first to use the section names it
    assert write(another(seed_article, 1, section=spelling), publisher="other").status == "created"
    for target in ("feed:section:dunya", "feed:index"):
        build(ctx, target)
    assert set(titles(ctx, "feeds/sections/dunya").values()) == {"Haber — Dünya"}
    assert "Dünya" in index_names(ctx)
    assert spelling.strip("\u202e") not in set(index_names(ctx)) - {"Dünya"}


def test_tags_and_authors_keep_their_first_names(ctx, write, seed_article) -> None:
    write(seed_article)
    hostile = another(
        seed_article,
        2,
        tags=["\u202eNATO", "nato"],
        authors=[{"name": "DIŞ HABERLER SERVİSİ"}],
    )
    write(hostile, publisher="other")
    for target in ("feed:tag:nato", "feed:author:dis-haberler-servisi", "feed:index"):
        build(ctx, target)
    assert set(titles(ctx, "feeds/tags/nato").values()) == {"Haber — NATO"}
    authors = titles(ctx, "feeds/authors/dis-haberler-servisi")
    assert set(authors.values()) == {"Haber — Dış Haberler Servisi"}
    names = index_names(ctx)
    assert "NATO" in names and "Dış Haberler Servisi" in names
    assert "DIŞ HABERLER SERVİSİ" not in names


def test_the_configured_name_wins_over_the_first_publishers(
    settings: Settings, write, seed_article
) -> None:
    configured = settings.model_copy(
        update={"display_names": {"feed:section:dunya": "Dünya Haberleri"}}
    )
    ctx = make_context(configured, lambda _: None)
    write(another(seed_article, 3, section="\u202eDünya"), publisher="other")  # first
    write(seed_article)
    for target in ("feed:section:dunya", "feed:index"):
        build(ctx, target)
    assert set(titles(ctx, "feeds/sections/dunya").values()) == {"Haber — Dünya Haberleri"}
    assert "Dünya Haberleri" in index_names(ctx)


def test_display_names_must_name_feed_targets() -> None:
    with pytest.raises(ValueError, match="display_names"):
        Settings(display_names={"section:dunya": "Dünya"})
    with pytest.raises(ValueError, match="display_names"):
        Settings(display_names={"feed:section:Dünya": "Dünya"})
    with pytest.raises(ValueError, match="empty"):
        Settings(display_names={"feed:tag:nato": "  "})
    with pytest.raises(ValueError, match="control"):
        Settings(display_names={"feed:tag:nato": "NA\x1bTO"})


def feed_ids(ctx: BuildContext, stem: str) -> set[str]:
    return {item["id"] for item in json.loads(ctx.store.get(f"{stem}.json").body)["items"]}


def test_another_publisher_writing_first_names_nothing_and_the_site_names_it(
    ctx, write, seed_article
) -> None:
    hostile = another(
        seed_article, 4, section="Dünya 🤡", tags=["NATO 🤡"], authors=[{"name": "DIŞ HABERLER"}]
    )
    write(hostile, publisher="other")
    build(ctx, "feed:section:dunya")
    assert set(titles(ctx, "feeds/sections/dunya").values()) == {"Haber — dunya"}  # its slug
    write(seed_article)  # the site's first article in the section names it
    for target in ("feed:section:dunya", "feed:tag:nato", "feed:index"):
        build(ctx, target)
    assert set(titles(ctx, "feeds/sections/dunya").values()) == {"Haber — Dünya"}
    assert set(titles(ctx, "feeds/tags/nato").values()) == {"Haber — NATO"}
    assert "Dünya 🤡" not in index_names(ctx) and "NATO 🤡" not in index_names(ctx)


def test_an_admins_name_wins_and_shows_after_the_rebuild(
    settings: Settings, write, seed_article
) -> None:
    configured = settings.model_copy(
        update={"display_names": {"feed:section:dunya": "Dünya Haberleri"}}
    )
    ctx = make_context(configured, lambda _: None)
    admin = AdminNames(ctx.redis, configured)
    write(seed_article)
    admin.set("feed:section:dunya", "Dünya Masası", renamed(parse("feed:section:dunya")))
    for target in ("feed:section:dunya", "feed:index"):
        build(ctx, target)
    assert set(titles(ctx, "feeds/sections/dunya").values()) == {"Haber — Dünya Masası"}
    assert "Dünya Masası" in index_names(ctx)
    admin.unset("feed:section:dunya", renamed(parse("feed:section:dunya")))
    build(ctx, "feed:section:dunya")
    assert set(titles(ctx, "feeds/sections/dunya").values()) == {"Haber — Dünya Haberleri"}


def test_author_feeds_belong_to_their_publisher(ctx, write, seed_article) -> None:
    write(seed_article)  # the site's journalist
    impostor = another(seed_article, 5, authors=[{"name": "Dış Haberler Servisi"}])
    write(impostor, publisher="other")
    site, own = "feed:author:dis-haberler-servisi", "feed:author:other:dis-haberler-servisi"
    for target in (site, own, "feed:index"):
        build(ctx, target)
    assert feed_ids(ctx, "feeds/authors/dis-haberler-servisi") == {
        f"tag:haber.example.com.tr,2026:article:{seed_article['id']}"
    }
    stem = "feeds/publishers/other/authors/dis-haberler-servisi"
    assert feed_ids(ctx, stem) == {"tag:haber.example.com.tr,2026:article:baska-5"}
    # Named by no one (the other publisher names nothing): its slug, and whose feed it is.
    assert set(titles(ctx, stem).values()) == {"Haber — dis-haberler-servisi (other)"}
    page = lxml.html.fromstring(ctx.store.get("index.html").body)
    (group,) = page.xpath("//section[h2[starts-with(., 'Diğer yayıncıların yazarları')]]")
    assert [a.text_content() for a in group.xpath(".//a[@class='name']")] == [
        "dis-haberler-servisi (other)"
    ]
    assert group.xpath(".//a[@class='name']/@href")[0].endswith(f"{stem}.html")
