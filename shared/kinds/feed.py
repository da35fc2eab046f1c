"""The feed kind at write time: RSS, Atom and JSON Feed targets for the site, each section,
tag and author, and the index page that lists them.

Sections and tags are the site's taxonomy: one feed each, whoever writes. An author feed
belongs to a publisher: the site publisher's (`Settings.site_publisher`) at the short path
`feeds/authors/<slug>`, target `feed:author:<slug>`; another publisher's at
`feeds/publishers/<publisher>/authors/<slug>`, target `feed:author:<publisher>:<slug>`, where
<publisher> is `publisher_slug` of its name. So no publisher's byline enters another's
author feed, and every newsroom's byline reaches its own journalist's feed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from shared.article import Article
from shared.kinds.base import ROUTINE, URGENT, Kind
from shared.kinds.entries import TargetEntry, fingerprint
from shared.language.slugs import slugify
from shared.state.article_reader import ArticleReader

FEED_FORMATS = ("rss", "atom", "json", "html")  # html: the page for people, in a browser
_FEED_DIRS = {"section": "sections", "tag": "tags", "author": "authors"}
FEED_KINDS = ("all", *_FEED_DIRS)
NAMED_KINDS = tuple(_FEED_DIRS)  # the feeds that have display names
# Another publisher's author feeds live under this directory, then the publisher's slug.
PUBLISHERS_DIR = "publishers"
# The index page at `/`: what feeds exist, under their display names.
INDEX, INDEX_PATH = "feed:index", "index.html"

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# What `publisher_slug` gives: a slug, or for a name that is no slug its slug, "--" and a
# digest of the whole name (a slug never holds "--", so no two publishers share one).
_PUBLISHER_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*(?:--[0-9a-f]{12})?")


@lru_cache(maxsize=1024)
def publisher_slug(publisher: str) -> str:
    """The URL segment of a publisher's author feeds: its name if that is a slug ("other"),
    else a slug of it and a digest of the exact name ("Diğer Ajans" → "diger-ajans--…"), so
    "Other" and "other" never share feeds."""
    if _SLUG.fullmatch(publisher):
        return publisher
    digest = hashlib.blake2b(publisher.encode("utf-8", "surrogatepass"), digest_size=6)
    return f"{slugify(publisher) or 'publisher'}--{digest.hexdigest()}"


def is_slug(text: str) -> bool:
    """Whether `text` names a feed as `slugify` would (its own slug, not empty)."""
    return bool(text) and slugify(text) == text


@dataclass(frozen=True)
class FeedTarget:
    """Which feed: `feed:all`, `feed:<kind>:<slug>` or, for an author feed of a publisher
    other than the site, `feed:author:<publisher slug>:<slug>`; and where its files live."""

    kind: str  # "all", "section", "tag" or "author"
    slug: str = ""
    publisher: str = ""  # an author feed's publisher slug, when not the site's

    @property
    def name(self) -> str:
        if self.kind == "all":
            return "feed:all"
        owner = f"{self.publisher}:" if self.publisher else ""
        return f"feed:{self.kind}:{owner}{self.slug}"

    @property
    def path_stem(self) -> str:
        """The artifact path without its format suffix, e.g. `feeds/sections/dunya`."""
        if self.kind == "all":
            return "feeds/all"
        owner = f"{PUBLISHERS_DIR}/{self.publisher}/" if self.publisher else ""
        return f"feeds/{owner}{_FEED_DIRS[self.kind]}/{self.slug}"

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
    publisher = ""
    if kind == "author" and slug.count(":") == 1:
        publisher, _, slug = slug.partition(":")
        if not _PUBLISHER_SLUG.fullmatch(publisher):
            raise ValueError(f"unknown target {name!r}")
    if prefix != "feed" or kind not in NAMED_KINDS or not is_slug(slug):
        raise ValueError(f"unknown target {name!r}")
    return FeedTarget(kind, slug, publisher)


def target_of_path(stem: str) -> FeedTarget | None:
    """The feed whose artifacts are at `stem` (a path without its format suffix), if any."""
    if stem == ALL.path_stem:
        return ALL
    parts = stem.split("/")
    if parts[0] != "feeds":
        return None
    if len(parts) == 3:
        kinds = {directory: kind for kind, directory in _FEED_DIRS.items()}
        kind, slug, publisher = kinds.get(parts[1]), parts[2], ""
    elif len(parts) == 5 and parts[1] == PUBLISHERS_DIR and parts[3] == _FEED_DIRS["author"]:
        kind, slug, publisher = "author", parts[4], parts[2]
    else:
        return None
    if kind is None:
        return None
    try:
        return parse(FeedTarget(kind, slug, publisher).name)
    except ValueError:
        return None


class NotAFeed(ValueError):
    """What an operator gave names no feed; `part` says which: "kind", "slug", "publisher"."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__(message)
        self.part = part


def named_target(kind: str, slug: str, publisher: str | None = None) -> FeedTarget:
    """The feed an operator names by kind and slug: for an author feed, `publisher`'s, or
    the site's when that is None (the caller maps the site publisher to None).

    Raises:
        NotAFeed: `kind` is no named kind, `slug` no slug, or a publisher is given for a
            section or tag (those are the site's, whoever writes in them).
    """
    if kind not in NAMED_KINDS:
        raise NotAFeed("kind", f"kind must be one of {', '.join(NAMED_KINDS)}, not {kind!r}")
    if not is_slug(slug):
        suggestion = slugify(slug)
        hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
        raise NotAFeed("slug", f"{slug!r} is not a slug: lowercase letters, digits, hyphens{hint}")
    if publisher is not None and kind != "author":
        raise NotAFeed("publisher", f"{kind} feeds are the site's: only author feeds have one")
    if publisher is not None and not publisher.strip():
        raise NotAFeed("publisher", "the publisher is empty: give its name, or none for the site")
    return FeedTarget(kind, slug, publisher_slug(publisher) if publisher is not None else "")


def renamed(target: FeedTarget) -> list[str]:
    """The targets that show `target`'s display name: the feed and the index page."""
    return [target.name, INDEX]


class FeedKind(Kind):
    name = "feed"
    queue = "feeds"
    renderer = "services.render.feed.renderer:FeedRenderer"
    has_urgent = True

    def validate(self, target: str) -> None:
        if target != INDEX:
            parse(target)

    def entries(self, article: Article) -> list[TargetEntry]:
        """The feeds of `article` as the site publisher's."""
        return self.owned_entries(article, None)

    def owned_entries(self, article: Article, publisher: str | None) -> list[TargetEntry]:
        # A feed item shows nearly all of an article: any change rebuilds its feeds.
        digest, score = article.digest, int(article.published_at.timestamp() * 1000)
        # Only the site's articles propose names (labels; upsert.lua keeps a feed's first),
        # and only they reach the site's author feeds: another publisher's reach its own.
        site = publisher is None or publisher == self.settings.site_publisher
        owner = "" if site else publisher_slug(publisher or "")
        labelled = [(ALL, None), (FeedTarget("section", article.section_slug), article.section)]
        labelled += [(FeedTarget("tag", slugify(tag)), tag) for tag in article.tags]
        labelled += [
            (FeedTarget("author", slugify(a.name), owner), a.name) for a in article.authors
        ]
        entries: dict[str, TargetEntry] = {}
        for feed, label in labelled:
            name = label if site else None
            entries.setdefault(
                feed.name,
                TargetEntry(feed.name, digest, score, label=name, keep_retractions=True),
            )
        # The index changes only when a feed appears (its first build queues the index's,
        # see FeedRenderer) or is named.
        shown = sorted((entry.name, entry.label) for entry in entries.values())
        entries[INDEX] = TargetEntry(INDEX, fingerprint(*shown), shows_names=True)
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
