"""The feed kind at write time: RSS, Atom and JSON Feed targets for the site, each section,
tag and author, and the index page that lists them."""

from __future__ import annotations

from dataclasses import dataclass

from shared.article import Article
from shared.kinds.base import ROUTINE, URGENT, Kind
from shared.kinds.entries import TargetEntry, fingerprint
from shared.language.slugs import slugify
from shared.state.article_reader import ArticleReader

FEED_FORMATS = ("rss", "atom", "json", "html")  # html: the page for people, in a browser
_FEED_DIRS = {"section": "sections", "tag": "tags", "author": "authors"}
FEED_KINDS = ("all", *_FEED_DIRS)
# The index page at `/`: what feeds exist, under their display names.
INDEX, INDEX_PATH = "feed:index", "index.html"


@dataclass(frozen=True)
class FeedTarget:
    """Which feed: `feed:all` or `feed:<kind>:<slug>`, and where its files live."""

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


ALL = FeedTarget("all")


def parse(name: str) -> FeedTarget:
    """The feed a target name denotes.

    Raises:
        ValueError: the name is not a feed target.
    """
    if name == ALL.name:
        return ALL
    prefix, _, rest = name.partition(":")
    kind, _, slug = rest.partition(":")
    if prefix != "feed" or kind not in FEED_KINDS[1:] or not slug or slugify(slug) != slug:
        raise ValueError(f"unknown target {name!r}")
    return FeedTarget(kind, slug)


class FeedKind(Kind):
    name = "feed"
    queue = "feeds"
    renderer = "services.render.feed.renderer:FeedRenderer"

    def validate(self, target: str) -> None:
        if target != INDEX:
            parse(target)

    def entries(self, article: Article) -> list[TargetEntry]:
        # A feed item shows nearly all of an article: any change rebuilds its feeds.
        digest, score = article.digest, int(article.published_at.timestamp() * 1000)
        labelled = [(ALL, None), (FeedTarget("section", article.section_slug), article.section)]
        labelled += [(FeedTarget("tag", slugify(tag)), tag) for tag in article.tags]
        labelled += [(FeedTarget("author", slugify(a.name)), a.name) for a in article.authors]
        entries: dict[str, TargetEntry] = {}
        for feed, label in labelled:
            entries.setdefault(
                feed.name,
                TargetEntry(feed.name, digest, score, label=label, keep_retractions=True),
            )
        # The index changes only when a feed appears or is renamed.
        shown = sorted((entry.name, entry.label) for entry in entries.values())
        entries[INDEX] = TargetEntry(INDEX, fingerprint(*shown))
        return list(entries.values())

    def paths(self, target: str) -> list[str]:
        if target == INDEX:
            return [INDEX_PATH]
        feed_target = parse(target)
        return [feed_target.path(fmt) for fmt in FEED_FORMATS]

    def priority(self, target: str) -> int:
        # What most readers fetch goes first: the site-wide and section feeds.
        return URGENT if target == ALL.name or target.startswith("feed:section:") else ROUTINE

    def known_targets(self, reader: ArticleReader) -> list[str]:
        # The index last: it lists what the others publish.
        feeds = [t for t in reader.targets(f"{self.name}:") if t not in (ALL.name, INDEX)]
        return [ALL.name, *feeds, INDEX]
