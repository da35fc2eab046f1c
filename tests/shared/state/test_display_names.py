"""Display names belong to the site: an admin's name, else the configured one, else the one
the site publisher's first article gave the feed. Another publisher's article never names or
renames a feed, and never enters the site's author feeds.

Written through the real writer (its Lua script) into a real Valkey database; the property
at the end drives arbitrary sequences of writes, retractions and admin changes by the site
(A, publisher `newsroom`) and another publisher (B, `other`) with arbitrary Unicode names.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
import redis.asyncio
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.article import Article
from shared.kinds.feed import INDEX, FeedTarget, parse, renamed
from shared.kinds.registry import Registry
from shared.language.slugs import slugify
from shared.settings import Settings
from shared.state import redis_keys
from shared.state.article_reader import ArticleReader
from shared.state.article_writer import ArticleWriter, WriteResult
from shared.state.display_names import AdminNames, check_name, every_name, shown_name
from tests.conftest import SITE_PUBLISHER

A, B = SITE_PUBLISHER, "other"
SECTION = "feed:section:secim-masasi"


def raw(
    n: str, section: str, tags: Sequence[str] = (), authors: Sequence[str] = ()
) -> dict[str, Any]:
    return {
        "id": f"ad-{n}",
        "url": f"https://haber.example.com.tr/ad/{n}",
        "title": f"Haber {n}",
        "section": section,
        "tags": list(tags),
        "authors": [{"name": name} for name in authors],
        "published_at": "2026-01-18T11:42:00+03:00",
    }


class Writer:
    """Writes and retractions by any publisher, as ingest makes them (one client each)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._entries = Registry.from_settings(settings).entries

    def _run(self, call: str, *args: Any) -> WriteResult:
        async def go() -> WriteResult:
            client = redis.asyncio.Redis.from_url(self._settings.redis_url)
            try:
                return await getattr(ArticleWriter(client, self._settings, self._entries), call)(
                    *args
                )
            finally:
                await client.aclose()

        return asyncio.run(go())

    def upsert(self, article: Article, publisher: str) -> WriteResult:
        return self._run("upsert", article, publisher)

    def retract(self, article_id: str, publisher: str) -> WriteResult:
        return self._run("retract", article_id, publisher)


def article(data: dict[str, Any]) -> Article:
    return Article.model_validate(data, context={"default_language": "tr"})


@pytest.fixture
def writer(settings: Settings) -> Writer:
    return Writer(settings)


@pytest.fixture
def reader(settings: Settings) -> ArticleReader:
    return ArticleReader(redis.Redis.from_url(settings.redis_url))


@pytest.fixture
def admin(settings: Settings) -> AdminNames:
    return AdminNames(redis.Redis.from_url(settings.redis_url), settings)


def test_the_site_names_a_feed_another_publisher_wrote_first(writer, reader):
    hostile = raw("b1", "Secim Masasi 🤡", ["SEÇİM 2026 🤡"], ["AYŞE YILMAZ 🤡"])
    assert writer.upsert(article(hostile), B).status == "created"
    for target in (SECTION, "feed:tag:secim-2026", "feed:author:ayse-yilmaz"):
        assert reader.display_name(target) is None  # B named nothing
    site = raw("a1", "Seçim Masası", ["Seçim 2026"], ["Ayşe Yılmaz"])
    assert writer.upsert(article(site), A).status == "created"
    assert reader.display_name(SECTION) == "Seçim Masası"
    assert reader.display_name("feed:tag:secim-2026") == "Seçim 2026"
    assert reader.display_name("feed:author:ayse-yilmaz") == "Ayşe Yılmaz"
    # B's own author feed is named by no one: it shows its slug.
    assert reader.display_name("feed:author:other:ayse-yilmaz") is None

    # B writing again, or retracting, changes nothing.
    again = {**hostile, "id": "ad-b2", "url": "https://haber.example.com.tr/ad/b2"}
    writer.upsert(article(again), B)
    assert writer.retract("ad-b1", B).status == "retracted"
    assert reader.display_name(SECTION) == "Seçim Masası"
    assert reader.display_names()[SECTION] == "Seçim Masası"


def test_a_later_site_article_does_not_rename_and_a_retraction_keeps_the_name(writer, reader):
    writer.upsert(article(raw("a1", "Seçim Masası")), A)
    writer.upsert(article(raw("a2", "SEÇİM MASASI")), A)
    assert reader.display_name(SECTION) == "Seçim Masası"
    writer.retract("ad-a1", A)
    writer.retract("ad-a2", A)
    assert reader.display_name(SECTION) == "Seçim Masası"


def test_an_admins_name_wins_over_the_configured_one_which_wins_over_the_sites(
    settings, writer, admin
):
    configured = settings.model_copy(update={"display_names": {SECTION: "Seçim (ayar)"}})
    reader = ArticleReader(redis.Redis.from_url(settings.redis_url))
    admin = AdminNames(redis.Redis.from_url(settings.redis_url), configured)
    writer.upsert(article(raw("a1", "Seçim Masası")), A)
    assert reader.display_name(SECTION) == "Seçim Masası"
    assert reader.display_name(SECTION, configured.display_names) == "Seçim (ayar)"
    admin.set(SECTION, "Seçim Masası 2026", renamed(parse(SECTION)))
    assert reader.display_name(SECTION, configured.display_names) == "Seçim Masası 2026"
    assert reader.display_names(configured.display_names)[SECTION] == "Seçim Masası 2026"
    assert [(n.target, n.name, n.source) for n in admin.every()] == [
        (SECTION, "Seçim Masası 2026", "admin")
    ]
    admin.unset(SECTION, renamed(parse(SECTION)))
    assert reader.display_name(SECTION, configured.display_names) == "Seçim (ayar)"
    assert admin.shown(SECTION) == "Seçim (ayar)"
    assert [n.source for n in admin.every()] == ["configured"]


def test_an_admins_change_appends_one_event_for_the_feed_and_the_index(settings, admin):
    db = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    target = FeedTarget("author", "ayse", "other")

    def events() -> list[dict[str, str]]:
        return [fields for _, fields in db.xrange(settings.events_stream)]

    change = admin.set(target.name, "Ayşe Kaya", renamed(target))
    assert change.status == "set" and change.event_id
    [event] = events()
    assert event["type"] == "names.changed"
    assert json.loads(event["targets"]) == [target.name, INDEX]
    assert admin.set(target.name, "Ayşe Kaya", renamed(target)).status == "unchanged"
    assert admin.unset(target.name, renamed(target)).status == "unset"
    assert admin.unset(target.name, renamed(target)).status == "unchanged"
    assert len(events()) == 2  # nothing changed, no event
    assert db.hget(redis_keys.ADMIN_NAMES, target.name) is None


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (" Dünya", "padded"),
        ("Dünya\n", "padded"),
        ("Dün\x1bya", "control"),
        ("Dün\x85ya", "control"),
        ("Dün\ud800ya", "control"),
        ("D" * 201, "longer than 200"),
    ],
)
def test_names_that_cannot_be_shown_are_refused(admin, name: str, says: str):
    with pytest.raises(ValueError, match=says):
        check_name(name)
    with pytest.raises(ValueError, match=says):
        admin.set(SECTION, name, [SECTION])


def test_names_of_every_script_pass():
    for name in ("Seçim Masası", "انتخابات", "\u202eDünya", "🤡" * 200, "İ" * 200):
        assert check_name(name) == name


def test_precedence_is_admin_then_configured_then_site():
    assert shown_name("a", "c", "s") == ("a", "admin")
    assert shown_name(None, "c", "s") == ("c", "configured")
    assert shown_name(None, None, "s") == ("s", "site")
    assert shown_name(None, None, None) is None
    listed = every_name({"t:1": "a"}, {"t:1": "c", "t:2": "c"}, {"t:2": "s", "t:3": "s"})
    assert [(n.target, n.source) for n in listed] == [
        ("t:1", "admin"),
        ("t:2", "configured"),
        ("t:3", "site"),
    ]


# --- The property: for any sequence of writes by A and B, a feed's name is an admin's or A's.

# Names that share slugs (so A and B meet in the same feeds), hostile spellings of them, and
# arbitrary text: controls, bidi marks, emoji, very long names.
_SHARED = [
    "Seçim Masası",
    "Secim Masasi 🤡",
    "SEÇİM MASASI",
    "\u202eSeçim Masası",
    "Seçim\u200f Masası",
    "Ayşe Yılmaz",
    "AYŞE YILMAZ 🤡",
    "Ayse\x00 Yilmaz",
    "Dış Haberler",
    "ديش هابرلر",
    "Seçim Masası " * 12,
]
# Any text, with a word after it so that most have a slug (a name without one is refused).
NAME = st.one_of(st.sampled_from(_SHARED), st.text(max_size=30).map(lambda text: f"{text} Ad"))
SHARED_NAME = st.sampled_from(_SHARED)
WRITE = st.tuples(
    st.sampled_from([A, B]),
    st.integers(0, 3),  # which article: A's, B's, or the other's (then refused)
    st.one_of(SHARED_NAME, NAME),  # the section: mostly one A and B share
    st.lists(NAME, max_size=3),
    st.lists(st.one_of(SHARED_NAME, NAME), max_size=3),
)
STEP = st.one_of(
    *[st.tuples(st.just("write"), WRITE)] * 4,
    st.tuples(st.just("retract"), st.tuples(st.sampled_from([A, B]), st.integers(0, 3))),
    st.tuples(st.just("admin"), st.tuples(st.sampled_from(_SHARED[:3]), st.booleans())),
)


@dataclass
class Expected:
    """What the names must be: the first name A's articles proposed for each target, and
    what an admin set; and which article ids are A's."""

    first: dict[str, str] = field(default_factory=dict)
    admin: dict[str, str] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)


def _proposed(item: Article) -> list[tuple[str, str]]:
    """(target, name) an article of the site proposes, in its own order."""
    found = [(f"feed:section:{item.section_slug}", item.section)]
    found += [(f"feed:tag:{slugify(tag)}", tag) for tag in item.tags]
    found += [(f"feed:author:{slugify(a.name)}", a.name) for a in item.authors]
    return found


def _valid(data: dict[str, Any]) -> Article | None:
    try:
        return article(data)
    except ValidationError:
        return None  # ingest answers 422: nothing is written


@hypothesis_settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, min_size=1, max_size=10))
def test_a_feeds_name_is_only_ever_an_admins_or_the_sites(
    writer, reader, admin, settings, steps
) -> None:
    db = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    db.flushdb()
    expected = Expected()
    for number, (kind, step) in enumerate(steps):
        if kind == "write":
            publisher, n, section, tags, authors = step
            data = raw(f"x{n}", section, tags, authors)
            data["updated_at"] = f"2026-01-18T12:{number:02d}:00+03:00"  # each one newer
            item = _valid(data)
            if item is None:
                continue
            status = writer.upsert(item, publisher).status
            if status not in ("created", "updated"):
                assert status in ("forbidden", "unchanged")
                continue
            expected.owners[item.id] = publisher
            if publisher == A:
                for target, name in _proposed(item):
                    expected.first.setdefault(target, name)
        elif kind == "retract":
            publisher, n = step
            writer.retract(f"ad-x{n}", publisher)
        else:
            name, setting = step
            target = f"feed:section:{slugify(name)}"
            if setting:
                admin.set(target, name, renamed(parse(target)))
                expected.admin[target] = name
            else:
                admin.unset(target, renamed(parse(target)))
                expected.admin.pop(target, None)

    feeds = {
        parse(t) for t in db.smembers(redis_keys.TARGETS) | set(expected.admin) if t.count(":") > 1
    }
    for feed in feeds:
        want = expected.admin.get(feed.name) or expected.first.get(feed.name)
        assert reader.display_name(feed.name) == want, feed.name
    # Only A's articles are in the site's author feeds; B's bylines are in B's own.
    for feed in (feed for feed in feeds if feed.kind == "author"):
        ids = db.zrange(redis_keys.index(feed.name), 0, -1)
        assert {expected.owners[i] for i in ids} <= {B if feed.publisher else A}, feed.name
        assert feed.publisher in ("", "other")
