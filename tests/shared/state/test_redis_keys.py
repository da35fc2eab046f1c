"""Key names come from shared/state/redis_keys.py alone: no Lua script spells one, and every
key the scripts touch follows the templates there, wherever they point."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from string import Formatter
from typing import Any

import pytest
import redis
import redis.asyncio

from services.ingest.rate_limit import RateLimiter
from services.render.pipeline.coordinator import Coordinator
from shared.article import Article
from shared.kinds.entries import Shard, TargetEntry
from shared.state import redis_keys
from shared.state.article_writer import ArticleWriter
from shared.state.sweeper import Sweeper
from shared.store.artifacts import Artifact
from shared.store.redis_backend import RedisStore

ROOT = Path(__file__).resolve().parents[3]
# A Lua comment, a quoted string or the concatenation operator; a match starting earlier
# wins, so quotes inside comments and dashes inside strings are not mistaken.
_LUA_TOKEN = re.compile(r"""--[^\n]*|'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|\.\.""")


def templates() -> dict[str, str]:
    """Every key name (or name template) redis_keys gives, by its constant's name."""
    return {
        name: value
        for name, value in vars(redis_keys).items()
        if name.isupper()
        and isinstance(value, str)
        and value.startswith(redis_keys.PREFIX)
        and name != "PREFIX"
    }


def fragments() -> tuple[set[str], set[str]]:
    """What follows the prefix in redis_keys' names: family prefixes ("idx:", a field follows)
    and whole fixed names ("targets"); the part separator counts as a fixed one."""
    families, fixed = set(), {redis_keys.PART_SEPARATOR}
    for template in templates().values():
        rest = template.removeprefix(redis_keys.PREFIX)
        literal = next(Formatter().parse(rest))[0]
        if literal != rest:
            families.add(literal)
        else:
            fixed.add(rest)
    return families - {""}, fixed


def spelled_key_names(source: str) -> list[str]:
    """What of a Lua source spells a key name that redis_keys owns: the prefix anywhere, a
    family prefix or a fixed name with a separator in any string, or a fixed name joined onto
    something (a name being built). A bare word such as a hash field ('targets') may stay."""
    families, fixed = fragments()
    separated = {f for f in fixed if re.search(r"\W", f)} - {redis_keys.PART_SEPARATOR}
    anywhere = families | separated
    found = [redis_keys.PREFIX] if redis_keys.PREFIX in source else []
    blank = _LUA_TOKEN.sub(lambda m: " " * len(m[0]) if m[0].startswith("--") else m[0], source)
    for token in _LUA_TOKEN.finditer(blank):
        if token[0] == "..":
            continue
        text, before, after = token[0][1:-1], blank[: token.start()], blank[token.end() :]
        joined = before.rstrip().endswith("..") or after.lstrip().startswith("..")
        if any(f in text for f in anywhere) or (joined and text in fixed):
            found.append(text)
    return found


def lua_files() -> list[Path]:
    return sorted(
        path
        for path in ROOT.rglob("*.lua")
        if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
    )


def test_the_names_to_look_for_come_from_redis_keys():
    families, fixed = fragments()
    assert {"article:", "idx:", "idxp:", "shards:", "gone:", "target:"} <= families
    assert {"targets", "names", "sweep", "due", "builds", "#"} <= fixed


def test_the_check_finds_a_key_name_spelled_in_lua():
    assert spelled_key_names("local k = P .. 'idx:' .. name .. '#' .. part") == ["idx:", "#"]
    assert spelled_key_names("redis.call('SADD', P .. 'targets', unpack(fresh))") == ["targets"]
    assert spelled_key_names('redis.call("ZADD", prefix .. "gone:" .. name, now, id)') == ["gone:"]
    assert spelled_key_names("redis.call('DEL', 'nw:due')") == ["nw:"]
    assert spelled_key_names("-- KEYS[1]  the key's state (nw:rate:<digest>)") == ["nw:"]
    # Hash fields, event types and sweep members are not key names.
    ok = "redis.call('HGET', akey, 'targets') -- the key's 'targets'\nlocal m = 'release:' .. id"
    assert spelled_key_names(ok) == []


def test_no_lua_script_spells_a_key_name():
    scripts = lua_files()
    assert {"upsert.lua", "targets.lua", "coordinate.lua", "rate_limit.lua"} <= {
        path.name for path in scripts
    }
    spelled = {
        str(path.relative_to(ROOT)): found
        for path in scripts
        if (found := spelled_key_names(path.read_text()))
    }
    assert spelled == {}


@pytest.fixture(params=["as configured", "moved"])
def prefix(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The prefix of every key: redis_keys' own, or another one given there alone, as one
    edit of that module would (what is built afterwards takes the new names)."""
    if request.param == "moved":
        old, moved = redis_keys.PREFIX, "nwtest:"
        for name, value in {**templates(), "PREFIX": old}.items():
            monkeypatch.setattr(redis_keys, name, moved + value.removeprefix(old))
    return redis_keys.PREFIX


def pattern(template: str) -> str:
    """A regular expression for the names of a template: each field stands for any text."""
    return "".join(
        re.escape(literal) + (".+" if field is not None else "")
        for literal, field, _, _ in Formatter().parse(template)
    )


def article(raw: dict[str, Any], **changes: Any) -> Article:
    return Article.model_validate({**raw, **changes}, context={"default_language": "tr"})


def entries(article: Article, publisher: str) -> list[TargetEntry]:
    """Targets that use every per-target family: a feed keeping retractions under a label,
    and a month split into parts of one entry each."""
    score = int(article.published_at.timestamp() * 1000)
    return [
        TargetEntry("feed:all", article.digest, score, label="Tümü", keep_retractions=True),
        TargetEntry("sitemap:2026-01", article.digest, score, "<url/>", shard=Shard(1, 10_000)),
    ]


def test_every_key_the_scripts_touch_is_named_by_redis_keys(prefix, settings, seed_article):
    # Publisher "p" is the site: its first article names the feed.
    update = {"events_stream": prefix + "events", "site_publisher": "p"}
    settings = settings.model_copy(update=update)
    db = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    first, second = article(seed_article), article(seed_article, id="ikinci-haber")
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    embargoed = article(seed_article, id="ambargolu", published_at=later, updated_at=None)
    rewritten = article(seed_article, updated_at="2026-01-18T16:00:00+03:00")

    async def write() -> list[str]:
        client = redis.asyncio.Redis.from_url(settings.redis_url)
        try:
            writer = ArticleWriter(client, settings, entries)
            statuses = [r.status for r in await writer.upsert_many([first, second, embargoed], "p")]
            statuses.append((await writer.retract(first.id, "p")).status)
            # Kept for the feed's tombstone, and no longer in its part of the month.
            assert await client.zscore(redis_keys.RETRACTED.format(target="feed:all"), first.id)
            assert await client.hget(redis_keys.SHARDS.format(target="sitemap:2026-01"), 1) == b"0"
            statuses.append((await writer.upsert(rewritten, "p")).status)
            limiter = RateLimiter(client, per_second=0.01, burst=1)  # its state lives 100 s
            assert await limiter.wait_needed("abc") == 0
            return statuses
        finally:
            await client.aclose()

    assert asyncio.run(write()) == ["created", "created", "created", "retracted", "created"]
    # Parts of one entry each: the second article went to the month's second part, and the
    # first, written again, back to the first.
    assert db.zscore(redis_keys.index("sitemap:2026-01", 2), second.id) is not None
    assert db.hget(redis_keys.payloads("sitemap:2026-01", 1), first.id) == "<url/>"
    assert db.hget(redis_keys.NAMES, "feed:all") == "Tümü"
    assert db.smembers(redis_keys.TARGETS) == {"feed:all", "sitemap:2026-01"}
    assert db.zscore(redis_keys.SWEEP, f"release:{embargoed.id}") is not None

    client = redis.Redis.from_url(settings.redis_url)
    # The sweeper reads an article it releases by the name redis_keys gives it.
    db.zadd(redis_keys.SWEEP, {f"release:{second.id}": 0})
    assert Sweeper(client, settings).sweep().released == 1
    coordinator = Coordinator(client, settings)
    [(watermark, _)] = db.xrevrange(settings.events_stream, count=1)
    assert coordinator.mark([("feed:all", watermark)]) == ["feed:all"]
    assert coordinator.begin("feed:all") == watermark
    coordinator.finish("feed:all", watermark)
    assert (coordinator.builds(), coordinator.builds("feed:all")) == (1, 1)
    store = RedisStore(client)
    try:
        assert store.publish("feed:all", [Artifact("feeds/all.rss", b"<rss/>")], watermark)
        assert store.publish("feed:all", [Artifact("feeds/all.json", b"{}")], watermark)
        assert store.delete("feed:all", ["feeds/all.json"], watermark, gone=True)
        assert store.gone("feeds/all.json")
        assert [listed.path for listed in store.listing("feeds/")] == ["feeds/all.rss"]
    finally:
        store.close()

    names = re.compile("|".join(pattern(t) for t in templates().values()))
    keys = set(db.keys("*"))
    assert keys - {settings.events_stream}, "the scripts wrote no key"
    assert {k for k in keys if not k.startswith(prefix)} == set()
    assert {k for k in keys - {settings.events_stream} if not names.fullmatch(k)} == set()
    families = {redis_keys.family(t) for t in templates().values() if "{" in t}
    fixed = {t for t in templates().values() if "{" not in t}
    written = {f for f in families if any(k.startswith(f) for k in keys)} | (keys & fixed)
    assert written >= {
        redis_keys.family(redis_keys.ARTICLE),
        redis_keys.family(redis_keys.INDEX),
        redis_keys.family(redis_keys.PAYLOADS),
        redis_keys.family(redis_keys.SHARDS),
        redis_keys.family(redis_keys.TARGET),
        redis_keys.family(redis_keys.ARTIFACT),
        redis_keys.family(redis_keys.RATE),
        redis_keys.NAMES,
        redis_keys.TARGETS,
        redis_keys.SWEEP,
        redis_keys.BUILDS,
        redis_keys.ARTIFACTS,
        redis_keys.ARTIFACTS_GONE,
        redis_keys.ARTIFACT_MARKS,
    }
