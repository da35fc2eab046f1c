"""Rebuild targets: which artifacts an article touches, and where each target's files live."""

from __future__ import annotations

from dataclasses import dataclass

from shared.models import Article
from shared.slugs import slugify

FEED_FORMATS = ("rss", "atom", "json")
_FEED_DIRS = {"section": "sections", "tag": "tags", "author": "authors"}


@dataclass(frozen=True)
class FeedTarget:
    """A feed target: `feed:all` or `feed:<kind>:<slug>`."""

    kind: str  # "all", "section", "tag" or "author"
    slug: str = ""

    @property
    def name(self) -> str:
        return "feed:all" if self.kind == "all" else f"feed:{self.kind}:{self.slug}"

    @property
    def path_stem(self) -> str:
        """The artifact path without its format suffix, e.g. `feeds/sections/dunya`."""
        return "feeds/all" if self.kind == "all" else f"feeds/{_FEED_DIRS[self.kind]}/{self.slug}"

    def path(self, fmt: str) -> str:
        return f"{self.path_stem}.{fmt}"


def parse_target(name: str) -> FeedTarget:
    """Parse a target name.

    Raises:
        ValueError: the name is not a known target.
    """
    if name == "feed:all":
        return FeedTarget("all")
    prefix, _, rest = name.partition(":")
    kind, _, slug = rest.partition(":")
    if prefix != "feed" or kind not in _FEED_DIRS or not slug or slugify(slug) != slug:
        raise ValueError(f"unknown target {name!r}")
    return FeedTarget(kind, slug)


def targets_for(article: Article) -> list[str]:
    """The names of every target whose output shows `article`."""
    targets = [FeedTarget("all"), FeedTarget("section", article.section_slug)]
    targets += [FeedTarget("tag", slugify(tag)) for tag in article.tags]
    targets += [FeedTarget("author", slugify(author.name)) for author in article.authors]
    return list(dict.fromkeys(t.name for t in targets))


def display_names(article: Article) -> dict[str, str]:
    """Target name → the display name a feed title uses ("feed:section:dunya" → "Dünya")."""
    names = {FeedTarget("section", article.section_slug).name: article.section}
    names |= {FeedTarget("tag", slugify(tag)).name: tag for tag in article.tags}
    names |= {FeedTarget("author", slugify(a.name)).name: a.name for a in article.authors}
    return names
