"""The one feed model that every format renders: built from a target's visible articles."""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from urllib.parse import urljoin

from shared.article import Article
from shared.bounded_cache import BoundedCache
from shared.kinds.feed import FEED_FORMATS, FeedTarget
from shared.settings import Settings
from shared.websub import hub_url


def empty_feed_date(settings: Settings) -> datetime:
    """The date of a feed with nothing in it: fixed, so its bytes stay the same build after
    build, and plausible (the start of the site's tag date, not the epoch)."""
    year, month, day = (int(p) for p in (settings.tag_date + "-01-01").split("-")[:3])
    return datetime(year, month, day, tzinfo=UTC)


# What a small Python object (a str, a datetime, a dataclass) costs besides its contents.
_OBJECT_BYTES = 64


@dataclass(frozen=True)
class Person:
    name: str
    url: str | None = None


@dataclass(frozen=True)
class Category:
    term: str  # the display name: "Dünya"
    scheme: str  # where feeds of this kind live, so sections and tags stay apart


@dataclass(frozen=True)
class Enclosure:
    url: str
    media_type: str
    alt: str = ""


@dataclass(frozen=True)
class FeedItem:
    guid: str
    url: str
    title: str
    summary: str
    content_html: str
    published: datetime
    updated: datetime
    authors: tuple[Person, ...]
    categories: tuple[Category, ...]
    image: Enclosure | None
    comments_url: str | None
    language: str | None
    rights: str | None = None  # copyright and usage terms, when the article has them

    @cached_property
    def weight(self) -> int:
        """About how many bytes the item holds, for the entry cache's budget: its text
        (a str of n UTF-8 bytes holds at most n code points of up to 4 bytes, so 2n is a fair
        middle) and an allowance per object. Counted from the fields: walking the whole
        object graph took a third of a cold build."""
        texts = [self.guid, self.url, self.title, self.summary, self.content_html]
        texts += [self.comments_url or "", self.language or "", self.rights or ""]
        texts += [p.name + (p.url or "") for p in self.authors]
        texts += [c.term + c.scheme for c in self.categories]
        if self.image:
            texts.append(self.image.url + self.image.media_type + self.image.alt)
        return sum(2 * len(text) for text in texts) + _OBJECT_BYTES * (len(texts) + 4)


@dataclass(frozen=True)
class Tombstone:
    """An item taken down: RFC 6721's deleted-entry, for readers to remove their copy."""

    guid: str
    when: datetime


@dataclass(frozen=True)
class Feed:
    guid: str
    title: str
    description: str
    home_url: str
    self_urls: dict[str, str]  # format → URL of this feed in that format
    hub_url: str  # the WebSub hub that pushes this feed to subscribers
    author: Person  # the site: also every item's author when it has no byline
    language: str
    timezone: str  # the site's, for dates shown to people
    updated: datetime
    items: tuple[FeedItem, ...]
    tombstones: tuple[Tombstone, ...] = ()
    index_url: str = ""  # the page listing every feed (the feeds base URL)


def build_feed(
    target: FeedTarget,
    articles: list[Article],
    display_name: str | None,
    settings: Settings,
    retractions: Sequence[tuple[str, datetime]] = (),
) -> Feed:
    """The feed of `target` holding `articles` (already visible, newest first), and
    tombstones for the (article id, time) `retractions`."""
    site = _Site.of(settings)
    items = tuple(_cached_item(article, site) for article in articles)
    tombstones = tuple(Tombstone(site.guid(article_id), when) for article_id, when in retractions)
    # A feed no one named shows its slug; another publisher's author feed says whose it is,
    # so it never passes for the site's own journalist's feed of the same name.
    label = display_name or target.slug
    if target.publisher:
        label = f"{label} ({target.publisher})"
    title = settings.site_name if target.kind == "all" else f"{settings.site_name} — {label}"
    changes = [item.updated for item in items] + [t.when for t in tombstones]
    return Feed(
        guid=f"{site.tag_prefix}{target.name}",
        title=title,
        description=title,
        home_url=str(settings.site_url),
        self_urls={fmt: urljoin(site.feeds_base, target.path(fmt)) for fmt in FEED_FORMATS},
        hub_url=hub_url(settings),
        author=site.author,
        language=settings.language,
        timezone=settings.timezone,
        updated=max(changes, default=empty_feed_date(settings)),
        items=items,
        tombstones=tombstones,
        index_url=site.feeds_base,
    )


@dataclass(frozen=True)
class _Site:
    """What every item of a feed shares, worked out once per feed rather than per item."""

    feeds_base: str
    tag_prefix: str
    section_scheme: str
    tag_scheme: str
    author: Person

    @classmethod
    def of(cls, settings: Settings) -> _Site:
        base = str(settings.feeds_base_url)
        return cls(
            feeds_base=base,
            # RFC 4151: the site's host and a date it owned it. Both are settings, fixed
            # for good: changing either changes every id, and readers show every story again.
            tag_prefix=f"tag:{settings.site_host},{settings.tag_date}:",
            section_scheme=urljoin(base, "feeds/sections/"),
            tag_scheme=urljoin(base, "feeds/tags/"),
            author=Person(settings.site_name, str(settings.site_url)),
        )

    def guid(self, article_id: str) -> str:
        # The article id, not the URL: a URL fix must not make readers see a new story.
        return f"{self.tag_prefix}article:{article_id}"


# Each article's item, by its id and digest: an unchanged article is in every build of each
# of its feeds, and making its item again each time was a fifth of a warm build. The same item
# object build after build also makes the entry cache's comparison an identity check.
ITEM_CACHE: BoundedCache[tuple[str, str, _Site], FeedItem] = BoundedCache(32 * 1024 * 1024)


def _cached_item(article: Article, site: _Site) -> FeedItem:
    key = (article.id, article.digest, site)
    item = ITEM_CACHE.get(key)
    if item is None:
        item = _item(article, site)
        ITEM_CACHE.put(key, item, item.weight)
    return item


def _item(article: Article, site: _Site) -> FeedItem:
    categories = [Category(article.section, site.section_scheme)]
    categories += [Category(tag, site.tag_scheme) for tag in article.tags]
    image = None
    if article.image is not None:
        url = str(article.image.url)
        media_type = mimetypes.guess_type(url.split("?")[0])[0] or "image/jpeg"
        image = Enclosure(url, media_type, article.image.alt)
    authors = tuple(Person(a.name, str(a.url) if a.url else None) for a in article.authors)
    return FeedItem(
        guid=site.guid(article.id),
        url=str(article.url),
        title=article.title,
        summary=article.summary,
        content_html=article.body_html,
        published=article.published_at,
        updated=article.modified,
        authors=authors or (site.author,),  # RFC 4287: every entry has an author
        categories=tuple(categories),
        image=image,
        comments_url=str(article.comments_url) if article.comments_url else None,
        language=article.language,
        rights=article.rights,
    )
