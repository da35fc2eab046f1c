"""The tokenizer's one-step path for plain tags (`<p>`, `</strong>`) reads exactly what its
general path reads."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.html import tokens
from shared.html.tokens import tokenize

PIECES = ["<", ">", "/", "p", "P", "b", "h2", "br", "1", " ", "=", '"', "'", "-", "!", "x", "é",
          "script", "style", "svg", "\n", "a href=x", "<!--", "-->"]  # fmt: skip


class Recording:
    """A tree builder that records what it is told (and never asks for raw text)."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def text(self, start: int, end: int) -> None:
        self.events.append(("text", start, end))

    def attributes(self, count: int) -> None:
        self.events.append(("attributes", count))

    def start_tag(self, name: str, attributes: dict[str, str], self_closing: bool) -> bool:
        self.events.append(("start", name, dict(attributes), self_closing))
        return name in ("script", "style")

    def end_tag(self, name: str) -> None:
        self.events.append(("end", name))

    def in_foreign_content(self) -> bool:
        return False


def events(html: str) -> list[Any]:
    tree = Recording()
    tokenize(html, tree, max_attributes=100)
    return tree.events


def general_events(html: str, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    with monkeypatch.context() as patched:
        patched.setattr(tokens, "_PLAIN_TAG", re.compile(r"(?!)"))  # never matches
        return events(html)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40).map("".join))
def test_plain_tags_read_as_the_general_path_reads_them(html: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert events(html) == general_events(html, monkeypatch)


def test_the_one_step_path_is_taken_for_plain_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    html = "<P>x</P><h2>y</h2><br><script>a</b></script>"
    assert events(html) == general_events(html, monkeypatch)
    assert ("start", "p", {}, False) in events(html)
