"""The kind registry, and a kind added with no change outside its module and the registry.

`NoteKind` below is a whole artifact kind, defined here and registered through
NEWSWIRE_EXTRA_KINDS: the real ingest, dispatcher and worker processes load it, and an
article pushed over HTTP comes out as its artifact, served by the feeds service.
"""

from __future__ import annotations

import pytest
import requests

from services.render.pipeline.rendering import Output, RenderContext, Renderer, Renderers
from shared.article import Article
from shared.kinds.base import URGENT, Kind
from shared.kinds.entries import TargetEntry, fingerprint
from shared.kinds.registry import Registry
from shared.store.artifacts import encode
from tests.conftest import wait_until


class NoteKind(Kind):
    """A plain-text list of the headlines of each section: `note:<section slug>`."""

    name = "note"
    queue = "notes"
    renderer = f"{__name__}:NoteRenderer"

    def validate(self, target: str) -> None:
        if not target.startswith("note:") or not target[5:].isidentifier():
            raise ValueError(f"unknown target {target!r}")

    def entries(self, article: Article) -> list[TargetEntry]:
        target = f"note:{article.section_slug}"
        score = int(article.published_at.timestamp() * 1000)
        return [TargetEntry(target, fingerprint(article.title), score, payload=article.title)]

    def paths(self, target: str) -> list[str]:
        return [f"notes/{target.removeprefix('note:')}.txt"]

    def priority(self, target: str) -> int:
        return URGENT


class NoteRenderer(Renderer):
    """Joins the stored headlines, newest first."""

    def render(self, target: str, ctx: RenderContext) -> Output:
        titles = [title for _, title in ctx.reader.payloads(target, newest_first=True)]
        body = "".join(f"{title}\n" for title in titles).encode()
        return Output(artifacts=[encode(self.kind.paths(target)[0], body, 5)])


def test_registry_finds_the_kind_of_a_target(settings):
    registry = Registry.from_settings(settings)
    assert registry.queue("feed:section:dunya") == "feeds"
    assert registry.queue("sitemap:2026-01") == "sitemaps"
    assert registry.priority("feed:section:dunya") < registry.priority("feed:tag:nato")
    assert registry.kind("sitemap:index").name == "sitemap"


@pytest.mark.parametrize(
    "target", ["nope:x", "feed", "feed:section:Dünya", "sitemap:2026-13", "sitemap:latest", ""]
)
def test_unknown_targets_are_refused_by_name(settings, target):
    with pytest.raises(ValueError, match="unknown target"):
        Registry.from_settings(settings).kind(target)


@pytest.mark.parametrize("spec", ["tests.render.nowhere:Kind", "tests.render.test_kinds:Path"])
def test_an_extra_kind_that_is_not_one_is_refused(settings, spec):
    with pytest.raises(ValueError, match=spec.split(":")[0]):
        Registry.from_settings(settings.model_copy(update={"extra_kinds": [spec]}))


def test_an_extra_kind_joins_every_registry_function(settings, seed_article):
    extended = settings.model_copy(update={"extra_kinds": ["tests.render.test_kinds:NoteKind"]})
    registry = Registry.from_settings(extended)
    assert registry.queues == ["feeds", "sitemaps", "cards", "notes"]
    article = Article.model_validate(seed_article)
    assert "note:dunya" in {entry.name for entry in registry.entries(article)}
    assert registry.queue("note:dunya") == "notes"
    assert isinstance(Renderers(registry).for_target("note:dunya"), NoteRenderer)


class UnnamedRendererKind(NoteKind):
    renderer = f"{__name__}:NoteKind"  # a class, but no renderer


def test_a_renderer_that_is_not_one_is_refused_naming_the_kind(settings):
    extended = settings.model_copy(
        update={"extra_kinds": ["tests.render.test_kinds:UnnamedRendererKind"]}
    )
    registry = Registry.from_settings(extended)  # the write-time half alone is fine
    with pytest.raises(ValueError, match="'note' kind's renderer"):
        Renderers(registry)


@pytest.mark.processes
def test_a_kind_added_in_a_test_is_built_end_to_end_by_the_real_worker(site_stack):
    # The shared stack registers NoteKind through NEWSWIRE_EXTRA_KINDS, as an operator would;
    # a section of this test's own, as the note lists every headline of its section.
    stack = site_stack
    article = {
        "id": "not-1",
        "url": "https://haber.example.com.tr/notlar/not-1",
        "title": "Rusya'dan flaş çıkış: Şansımız var",
        "section": "Notlar",
        "published_at": "2026-01-18T11:42:00+03:00",
    }
    assert stack.put(article).status_code == 201

    def note() -> str:
        response = requests.get(f"{stack.feeds_url}/notes/notlar.txt", timeout=5)
        return response.text if response.ok else ""

    # A build takes a fraction of a second: wait many times that.
    assert wait_until(note, timeout=30) == "Rusya'dan flaş çıkış: Şansımız var\n"
    assert "notes" in stack.processes.log("worker")  # consumed from its own queue
