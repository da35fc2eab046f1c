"""What an artifact kind is: the one interface the dispatcher, worker and CLI rely on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import redis

from shared.article import Article
from shared.kinds.entries import TargetEntry
from shared.net.fetcher import Fetcher
from shared.settings import Settings
from shared.state.article_reader import ArticleReader
from shared.store import ArtifactStore
from shared.store.artifacts import Artifact

# With the Redis broker, 0 is the highest priority: a worker always takes the most urgent
# message first.
URGENT, ROUTINE = 0, 6


@dataclass(frozen=True)
class RenderContext:
    """What a render may read: current state, the published artifacts, the clock."""

    settings: Settings
    reader: ArticleReader
    store: ArtifactStore
    redis: redis.Redis  # for index upkeep a kind owns, such as dropping aged entries
    fetcher: Fetcher  # the only way out to the network (article images)


@dataclass(frozen=True)
class Output:
    """A render's result, which the worker applies under the build's watermark."""

    artifacts: Sequence[Artifact] = ()
    remove: Sequence[str] = ()  # paths to delete
    gone: bool = False  # the removed paths answer 410 Gone until published again
    wake_at_ms: int | None = None  # rebuild then (Redis time): the output changes with time
    then: Sequence[str] = field(default_factory=tuple)  # rebuild these once this is published


class Kind(ABC):
    """One kind of artifact: its targets' names, what an article touches, and its renderer.

    Targets are named `<name>:<rest>`. A subclass is constructed once per process with the
    settings (and a clock, for what depends on the time an article is written).
    """

    name: ClassVar[str]  # the target prefix, e.g. "feed"
    queue: ClassVar[str]  # the Celery queue its builds run on

    def __init__(self, settings: Settings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.clock = clock

    @abstractmethod
    def validate(self, target: str) -> None:
        """Check a target name of this kind.

        Raises:
            ValueError: the name is not a valid target of this kind.
        """

    @abstractmethod
    def entries(self, article: Article) -> list[TargetEntry]:
        """The targets of this kind that show `article`, and what each keeps of it."""

    @abstractmethod
    def render(self, target: str, ctx: RenderContext) -> Output:
        """Build `target` from current state."""

    @abstractmethod
    def paths(self, target: str) -> list[str]:
        """The artifact paths `target` may publish (for a sharded target, its first part)."""

    def priority(self, target: str) -> int:
        """How urgent a build of `target` is (URGENT or ROUTINE)."""
        return ROUTINE

    def known_targets(self, reader: ArticleReader) -> list[str]:
        """Every target of this kind that stored state has, for `newswire rebuild`."""
        return []
