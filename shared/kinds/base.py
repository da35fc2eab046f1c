"""What an artifact kind is at write time: the interface ingest, dispatcher and CLI rely on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

from shared.article import Article
from shared.kinds.entries import TargetEntry
from shared.priorities import ROUTINE, URGENT
from shared.settings import Settings
from shared.state.article_reader import ArticleReader

__all__ = ["ROUTINE", "URGENT", "Kind"]


class Kind(ABC):
    """One kind of artifact: its targets' names, what an article touches, where it builds.

    Targets are named `<name>:<rest>`. A subclass is constructed once per process with the
    settings (and a clock, for what depends on the time an article is written). How a target
    is drawn is the renderer's business, named by `renderer` and imported by workers only.
    """

    name: ClassVar[str]  # the target prefix, e.g. "feed"
    queue: ClassVar[str]  # the Celery queue its builds run on
    # "module:Class" of its `services.render.pipeline.rendering.Renderer`.
    renderer: ClassVar[str]
    # Whether some of its targets are urgent (see `priority`): then its routine builds may
    # be sent again, promoted ahead of routine ones, when they wait behind urgent ones.
    has_urgent: ClassVar[bool] = False

    def least_window_ms(self) -> int:
        """How long a hot target of this kind gathers events at least before it is built
        again: longer than the coordinator's windows where its readers need it no fresher."""
        return 0

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

    def owned_entries(self, article: Article, publisher: str | None) -> list[TargetEntry]:
        """The targets of this kind that show `article` as `publisher`'s (None: the site
        publisher's). The same as `entries` unless a kind's targets depend on who owns the
        article, as author feeds do (each belongs to its publisher)."""
        return self.entries(article)

    @abstractmethod
    def paths(self, target: str) -> list[str]:
        """The artifact paths `target` may publish (for a sharded target, its first part)."""

    def priority(self, target: str) -> int:
        """How urgent a build of `target` is (URGENT or ROUTINE)."""
        return ROUTINE

    def known_targets(self, reader: ArticleReader) -> list[str]:
        """Every target of this kind that stored state has, for `newswire rebuild`."""
        return []
