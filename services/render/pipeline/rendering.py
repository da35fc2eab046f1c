"""What a kind is at build time: the `Renderer` interface, what a render may read
(`RenderContext`) and what it returns (`Output`), and each kind's renderer, loaded by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from shared.kinds.base import Kind
from shared.kinds.registry import Registry, load_class
from shared.net.fetcher import Fetcher
from shared.settings import Settings
from shared.state.article_reader import ArticleReader
from shared.state.script_calls import ScriptCall
from shared.store import ArtifactStore
from shared.store.artifacts import Artifact


@dataclass(frozen=True)
class RenderContext:
    """What a render may read: current state, the published artifacts, the clock."""

    settings: Settings
    reader: ArticleReader
    store: ArtifactStore
    redis: redis.Redis  # for index upkeep a kind owns, such as dropping aged entries
    fetcher: Fetcher  # the only way out to the network (article images)
    first_reply: Any = None  # the reply to the renderer's `first_read`, if it has one


@dataclass(frozen=True)
class Output:
    """A render's result, which the worker applies under the build's watermark."""

    artifacts: Sequence[Artifact] = ()
    remove: Sequence[str] = ()  # paths to delete
    gone: bool = False  # the removed paths answer 410 Gone until published again
    wake_at_ms: int | None = None  # rebuild then (Redis time): the output changes with time
    then: Sequence[str] = field(default_factory=tuple)  # rebuild these once this is published


class Renderer(ABC):
    """Builds the targets of one kind from current state; made once per worker process."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.settings = kind.settings

    def first_read(self, target: str, ctx: RenderContext) -> ScriptCall | None:
        """A read to send with the build's begin, in its round trip; its reply reaches
        `render` as `ctx.first_reply`. None (the default): the render reads for itself."""
        return None

    @abstractmethod
    def render(self, target: str, ctx: RenderContext) -> Output:
        """Build `target` from current state."""


class Renderers:
    """The renderer of every registered kind, by kind name."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._renderers = {kind.name: _load(kind) for kind in registry.kinds}

    def for_target(self, target: str) -> Renderer:
        """The renderer of a target's kind, which has checked the name.

        Raises:
            ValueError: no kind has such a target.
        """
        return self._renderers[self.registry.kind(target).name]


def _load(kind: Kind) -> Renderer:
    try:
        found = load_class(kind.renderer)
    except ValueError as exc:
        raise ValueError(f"renderer of the {kind.name!r} kind: {exc}") from exc
    if not (isinstance(found, type) and issubclass(found, Renderer)):
        raise ValueError(f"{kind.renderer!r}, the {kind.name!r} kind's renderer, is not one")
    return found(kind)
