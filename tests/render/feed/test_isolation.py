"""One article that cannot be rendered is left out of its feeds, never freezing them.

The feed kinds below differ from the real one only in their renderers, loaded through
NEWSWIRE_EXTRA_KINDS as an operator would load a kind: `PickyFeedKind`'s RSS format fails
on one article (as a renderer bug triggered by one article's content would), and
`BrokenFeedKind`'s fails on every feed (a fault that is no article's).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import feedparser
import orjson

from services.render.feed.model import Feed
from services.render.feed.renderer import FeedRenderer
from services.render.pipeline.celery_app import make_context
from shared.kinds.feed import FeedKind
from shared.state.dead_letters import DeadLetters
from tests.render.building import build

POISON = "Zehirli"  # a title word the picky renderer cannot take


class PickyFeedRenderer(FeedRenderer):
    @cached_property
    def renderers(self) -> dict[str, Callable[[Feed], bytes]]:
        renderers = dict(super().renderers)
        rss = renderers["rss"]

        def picky(feed: Feed) -> bytes:
            if any(POISON in item.title for item in feed.items):
                raise UnicodeError(f"cannot encode {POISON!r}")
            return rss(feed)

        return {**renderers, "rss": picky}


class BrokenFeedRenderer(FeedRenderer):
    @cached_property
    def renderers(self) -> dict[str, Callable[[Feed], bytes]]:
        def broken(feed: Feed) -> bytes:
            raise RuntimeError("the renderer is broken")

        return {**super().renderers, "rss": broken}


class PickyFeedKind(FeedKind):
    renderer = f"{__name__}:PickyFeedRenderer"


class BrokenFeedKind(FeedKind):
    renderer = f"{__name__}:BrokenFeedRenderer"


def _context(settings, kind: str):
    tuned = settings.model_copy(update={"extra_kinds": [f"{__name__}:{kind}"]})
    return make_context(tuned, lambda _target: None)


def test_an_article_that_cannot_be_rendered_is_left_out_and_dead_lettered(
    settings, write, corpus, db
):
    dunya = [a for a in corpus if a["section"] == "Dünya"][:3]
    poisoned = {**dunya[1], "title": f"{POISON} {dunya[1]['title']}"}
    for raw in (dunya[0], poisoned, dunya[2]):
        write(raw)
    ctx = _context(settings, "PickyFeedKind")

    assert build(ctx, "feed:section:dunya") == "published"

    shown = {dunya[0]["title"], dunya[2]["title"]}
    for fmt in ("rss", "atom"):
        parsed = feedparser.parse(ctx.store.get(f"feeds/sections/dunya.{fmt}").body)
        assert not parsed.bozo
        assert {entry.title for entry in parsed.entries} == shown, fmt
    json_feed = orjson.loads(ctx.store.get("feeds/sections/dunya.json").body)
    assert {item["title"] for item in json_feed["items"]} == shown  # the same in every format
    [letter] = DeadLetters(ctx.redis).articles()
    assert letter.article_id == poisoned["id"]
    assert letter.error == "UnicodeError" and POISON in letter.message

    # Written again without what broke it, it returns and its dead letter goes.
    write({**poisoned, "title": dunya[1]["title"], "updated_at": "2026-01-19T09:00:00+03:00"})
    assert build(ctx, "feed:section:dunya") == "published"
    parsed = feedparser.parse(ctx.store.get("feeds/sections/dunya.rss").body)
    assert len(parsed.entries) == 3
    assert DeadLetters(ctx.redis).articles() == []


def test_a_fault_that_is_no_articles_parks_the_build_not_the_articles(settings, write, corpus):
    for raw in [a for a in corpus if a["section"] == "Dünya"][:2]:
        write(raw)
    ctx = _context(settings, "BrokenFeedKind")

    assert build(ctx, "feed:section:dunya") == "dead"  # not transient: parked at once

    assert DeadLetters(ctx.redis).articles() == []
    [letter] = DeadLetters(ctx.redis).builds()
    assert letter.target == "feed:section:dunya" and letter.error == "RuntimeError"
    assert ctx.store.get("feeds/sections/dunya.rss") is None
