"""The registry of artifact kinds: the one place that lists them.

A kind (see `base.Kind`) names its targets, says which targets an article touches, picks its
Celery queue and priority, names its renderer, and asks for time-driven rebuilds. Everything
else (the write step, dispatcher, worker task, coordinator, stores, `newswire rebuild`) goes
through `Registry` and knows no kind by name. Adding a kind is a `Kind` module, its renderer
and one line below.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from importlib import import_module

from shared.article import Article
from shared.kinds.base import Kind
from shared.kinds.entries import TargetEntry
from shared.settings import Settings

KINDS = (
    "shared.kinds.feed:FeedKind",
    "shared.kinds.sitemap:SitemapKind",
    "shared.kinds.card:CardKind",
)


class Registry:
    def __init__(self, kinds: Sequence[Kind]) -> None:
        self._kinds = {kind.name: kind for kind in kinds}

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], float] = time.time) -> Registry:
        """The built-in kinds and `settings.extra_kinds`, each made with `settings`; an extra
        kind with a built-in kind's name takes its place (tests slow a kind down this way).

        Raises:
            ValueError: an extra kind cannot be imported or is not a `Kind`.
        """
        return cls([_load(spec)(settings, clock) for spec in (*KINDS, *settings.extra_kinds)])

    @property
    def kinds(self) -> list[Kind]:
        return list(self._kinds.values())

    @property
    def queues(self) -> list[str]:
        return list(dict.fromkeys(kind.queue for kind in self._kinds.values()))

    def kind(self, target: str) -> Kind:
        """The kind of a target, which has checked the name.

        Raises:
            ValueError: no kind has such a target.
        """
        kind = self._kinds.get(target.partition(":")[0])
        if kind is None:
            raise ValueError(f"unknown target {target!r}: kinds are {', '.join(self._kinds)}")
        kind.validate(target)
        return kind

    def entries(self, article: Article, publisher: str | None = None) -> list[TargetEntry]:
        """Every target that shows `article` of `publisher` (None: the site publisher's), of
        every kind."""
        kinds = self._kinds.values()
        return [entry for kind in kinds for entry in kind.owned_entries(article, publisher)]

    def least_windows(self) -> dict[str, int]:
        """Kind name → the least window of its hot targets, for the kinds that set one."""
        return {k.name: k.least_window_ms() for k in self._kinds.values() if k.least_window_ms()}

    @property
    def urgent_queues(self) -> list[str]:
        """The queues that carry urgent builds (of kinds that have urgent targets)."""
        return list(dict.fromkeys(k.queue for k in self._kinds.values() if k.has_urgent))

    def queue(self, target: str) -> str:
        return self.kind(target).queue

    def priority(self, target: str) -> int:
        return self.kind(target).priority(target)


def load_class(spec: str) -> type:
    """The class a "module:Class" import string names.

    Raises:
        ValueError: the module or the class cannot be found.
    """
    module, _, name = spec.partition(":")
    try:
        return getattr(import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"cannot load {spec!r}: {exc}") from exc


def _load(spec: str) -> type[Kind]:
    try:
        found = load_class(spec)
    except ValueError as exc:
        raise ValueError(f"artifact kind: {exc}") from exc
    if not (isinstance(found, type) and issubclass(found, Kind)):
        raise ValueError(f"{spec!r} is not an artifact kind")
    return found
