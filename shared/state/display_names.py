"""Display names of feeds (sections, tags, authors): they belong to the site.

A feed's name is, first to last:
1. the one an admin set (`newswire names set`, `PUT /v1/names/{kind}/{slug}`), kept in Redis;
2. the one the settings give (NEWSWIRE_DISPLAY_NAMES), the deployment's defaults;
3. the one the site publisher's first article in the feed gave it (shared/state/lua/upsert.lua);
else the feed has none and shows its slug. An admin's name wins over the settings so that it
takes effect at once, without a restart; unsetting it falls back to the settings' name.
Another publisher's article never names or renames a feed.

An admin's change is stored together with a `names.changed` event naming the feed and the
index page, in one atomic step, so they rebuild and show it as any write's targets do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import orjson
import redis
import redis.asyncio

from shared.settings import Settings
from shared.state import redis_keys
from shared.state.article_writer import lua

MAX_NAME_LENGTH = 200  # characters: the longest byline an article may carry
# As for configured names (settings' display_names): no controls (XML forbids most), lone
# surrogates, or U+FFFE/U+FFFF.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

Source = Literal["admin", "configured", "site"]
ChangeStatus = Literal["set", "unset", "unchanged"]


def check_name(name: str) -> str:
    """`name` if a feed may be shown under it.

    Raises:
        ValueError: it is empty, padded with spaces, too long or holds control characters.
    """
    if not name.strip():
        raise ValueError("the name is empty: give the text readers should see")
    if name != name.strip():
        raise ValueError("the name is padded: remove the spaces around it")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"the name is longer than {MAX_NAME_LENGTH} characters")
    if _CONTROL.search(name):
        raise ValueError("the name holds control characters: remove them")
    return name


@dataclass(frozen=True)
class NamedFeed:
    """A feed's display name and where it comes from."""

    target: str
    name: str
    source: Source


def shown_name(
    admin: str | None, configured: str | None, site: str | None
) -> tuple[str, Source] | None:
    """The name a feed shows, given its admin-set, configured and site-given ones (None
    where it has none), and where it comes from; None if it has no name at all."""
    sources: tuple[tuple[str | None, Source], ...] = (
        (admin, "admin"),
        (configured, "configured"),
        (site, "site"),
    )
    return next(((name, source) for name, source in sources if name), None)


def every_name(
    admin: Mapping[str, str], configured: Mapping[str, str], site: Mapping[str, str]
) -> list[NamedFeed]:
    """Each named target's display name, by precedence, in target order."""
    found = []
    for target in sorted({*admin, *configured, *site}):
        shown = shown_name(admin.get(target), configured.get(target), site.get(target))
        if shown is not None:
            found.append(NamedFeed(target, *shown))
    return found


@dataclass(frozen=True)
class NameChange:
    """What a set or unset did; `event_id` is empty when it changed nothing."""

    target: str
    status: ChangeStatus
    event_id: str = ""


def _call(
    settings: Settings, target: str, name: str, rebuild: Sequence[str]
) -> dict[str, list[str]]:
    """The arguments of names.lua: set `name` (unset, if empty) and rebuild `rebuild`."""
    keys = [redis_keys.ADMIN_NAMES, settings.events_stream]
    return {"keys": keys, "args": [target, name, orjson.dumps(list(rebuild)).decode()]}


class AdminNames:
    """Admins' display names, for the `newswire` command."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._redis, self._settings = client, settings
        self._script = client.register_script(lua("names.lua"))

    def set(self, target: str, name: str, rebuild: Sequence[str]) -> NameChange:
        """Show `target` as `name` (checked with `check_name`), and rebuild `rebuild`.

        Raises:
            ValueError: the name may not be shown.
        """
        call = _call(self._settings, target, check_name(name), rebuild)
        return _change(target, self._script(**call))

    def unset(self, target: str, rebuild: Sequence[str]) -> NameChange:
        """Drop the admin's name of `target`, which then shows the next name by precedence."""
        return _change(target, self._script(**_call(self._settings, target, "", rebuild)))

    def shown(self, target: str) -> str | None:
        """The name `target` shows now (None: its slug)."""
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(redis_keys.ADMIN_NAMES, target)
            pipe.hget(redis_keys.NAMES, target)
            admin, site = pipe.execute()
        return _shown(self._settings, target, admin, site)

    def every(self) -> list[NamedFeed]:
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(redis_keys.ADMIN_NAMES)
            pipe.hgetall(redis_keys.NAMES)
            admin, site = pipe.execute()
        return every_name(_decoded(admin), self._settings.display_names, _decoded(site))


class AsyncAdminNames:
    """Admins' display names, for the ingest API: as `AdminNames`."""

    def __init__(self, client: redis.asyncio.Redis, settings: Settings) -> None:
        self._redis, self._settings = client, settings
        self._script = client.register_script(lua("names.lua"))

    async def set(self, target: str, name: str, rebuild: Sequence[str]) -> NameChange:
        call = _call(self._settings, target, check_name(name), rebuild)
        return _change(target, await self._script(**call))

    async def unset(self, target: str, rebuild: Sequence[str]) -> NameChange:
        return _change(target, await self._script(**_call(self._settings, target, "", rebuild)))

    async def shown(self, target: str) -> str | None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hget(redis_keys.ADMIN_NAMES, target)
        pipe.hget(redis_keys.NAMES, target)
        admin, site = await pipe.execute()
        return _shown(self._settings, target, admin, site)

    async def every(self) -> list[NamedFeed]:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(redis_keys.ADMIN_NAMES)
        pipe.hgetall(redis_keys.NAMES)
        admin, site = await pipe.execute()
        return every_name(_decoded(admin), self._settings.display_names, _decoded(site))


def _shown(settings: Settings, target: str, admin: bytes | None, site: bytes | None) -> str | None:
    configured = settings.display_names.get(target)
    shown = shown_name(_text(admin), configured, _text(site))
    return shown[0] if shown else None


def _text(value: bytes | None) -> str | None:
    return value.decode() if value is not None else None


def _change(target: str, reply: list[bytes]) -> NameChange:
    status, event_id = (part.decode() if isinstance(part, bytes) else str(part) for part in reply)
    return NameChange(target, status, event_id)  # type: ignore[arg-type]


def _decoded(found: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in found.items()}
