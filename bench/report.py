"""What the benchmarks print: progress lines, and figures judged against their targets.

A `Figure` keeps the exact number measured; the table shows it rounded, but whether its
target was met is decided from the exact number, so a ratio of 4.04 shown as "4.0×" misses
a "≤ 4×" target.
"""

from __future__ import annotations

import time
from dataclasses import KW_ONLY, dataclass


def say(text: str) -> None:
    print(text, flush=True)


class Progress:
    """Prints at most one progress line a second."""

    def __init__(self, label: str, every: float = 1.0) -> None:
        self.label = label
        self.every = every
        self.started = time.monotonic()
        self._next = self.started + every

    def update(self, text: str) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.every
            say(f"  [{self.label} {now - self.started:5.1f}s] {text}")


@dataclass(frozen=True)
class Figure:
    """One line of the summary table: an exact number, how it reads, and its target if any.

    `value` is what was measured, unrounded; None if it could not be (a figure with a target
    is then missed). It prints as `format(value, spec) + unit`, then `note` (context that is
    shown but never judged). The target is `at_most`, `at_least` or `below` (strictly
    less); `target` is how it reads, by default the bound and the unit ("≤ 4×").
    """

    name: str
    value: float | None
    _: KW_ONLY
    unit: str = ""  # printed straight after the number, so it carries its own space
    spec: str = ",.0f"
    note: str = ""
    missing: str = "(not measured)"  # printed instead of the number when value is None
    at_most: float | None = None
    at_least: float | None = None
    below: float | None = None
    target: str = ""

    def __post_init__(self) -> None:
        bounds = [(b, sign) for b, sign in self._bounds() if b is not None]
        if self.target and not bounds:
            raise ValueError(f"{self.name}: target {self.target!r} has no bound to judge by")
        if not self.target and bounds:
            text = ", ".join(f"{sign} {bound:,g}{self.unit}" for bound, sign in bounds)
            object.__setattr__(self, "target", text)  # frozen: set once, here

    def _bounds(self) -> tuple[tuple[float | None, str], ...]:
        return ((self.at_least, "≥"), (self.at_most, "≤"), (self.below, "<"))

    @property
    def met(self) -> bool | None:
        """Whether the exact value keeps every bound; None if there is no target."""
        if not self.target:
            return None
        if self.value is None:
            return False
        # NaN (a percentile of nothing) fails every comparison, so it counts as missed.
        return (
            (self.at_most is None or self.value <= self.at_most)
            and (self.at_least is None or self.value >= self.at_least)
            and (self.below is None or self.value < self.below)
        )

    @property
    def text(self) -> str:
        """The value as the table shows it: rounded, with its unit and note."""
        shown = self.missing if self.value is None else format(self.value, self.spec) + self.unit
        return f"{shown} {self.note}" if self.note else shown

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: ""}[self.met]


def print_table(figures: list[Figure]) -> None:
    rows = [("measure", "value", "target", "")] + [
        (f.name, f.text, f.target, f.verdict) for f in figures
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for i, row in enumerate(rows):
        say("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            say("  ".join("-" * width for width in widths))
