"""What the most expensive bodies cost to check and sanitize, in ms per KB, beside the target.

.venv/bin/python -m bench.sanitize_cost [--repeat N]

Each body is the costliest of its kind that the default limits still accept (nesting just
under the depth limit, formatting elements the parser re-opens in every paragraph, elements
with the most attributes allowed, ...), then a few just over them, which must be refused
cheaply. The time is the body's whole validation path: the limit scan, then the sanitizer.
"""

from __future__ import annotations

import argparse
import functools
import threading
import time
from collections.abc import Callable

import nh3

from shared.html.limits import HtmlLimits, HtmlTooComplex, measure_html
from shared.html.sanitize import sanitize_html

TARGET_MS_PER_KB = 5.0
LIMITS = HtmlLimits()
ARTICLE_URL = "https://haber.example.com.tr/dunya/haber-1"
MAX_BYTES = 1024 * 1024 - 64


def _fill(unit: Callable[[int], str], head: str = "") -> str:
    """`head`, then as many `unit(i)` as fit in 1 MB and pass the limits.

    A body that passes still passes without its last units, so the count that fits is the
    largest that passes: searched from where a few units' shape says the limits bite, so
    about two full measurements find it instead of a binary search's dozen or more.
    """
    pieces = [head]
    sizes = [len(head.encode())]  # bytes of the body of pieces[: i + 1]
    while sizes[-1] < MAX_BYTES and len(pieces) <= LIMITS.max_elements:
        pieces.append(unit(len(pieces) - 1))
        sizes.append(sizes[-1] + len(pieces[-1].encode()))

    def fits(count: int) -> bool:
        if sizes[count] > MAX_BYTES:
            return False
        try:
            measure_html("".join(pieces[: count + 1]), LIMITS)
        except HtmlTooComplex:
            return False
        return True

    top = len(pieces) - 1
    return "".join(pieces[: _largest_fitting(fits, _likely_fit(pieces, top), top) + 1])


def _largest_fitting(fits: Callable[[int], bool], guess: int, top: int) -> int:
    """The largest count in 0..`top` that `fits` (0 if none), given that whatever fits also
    fits with fewer: galloping away from `guess`, then a binary search between the two."""
    low, high = 0, top  # the answer is in low..high; low fits unless it is 0
    step = 1
    if fits(guess):
        low = guess
        while low < high:
            probe = min(low + step, high)
            if not fits(probe):
                high = probe - 1
                break
            low, step = probe, step * 2
    else:
        high = guess - 1
        while low < high:
            probe = max(high - step + 1, low + 1)
            if fits(probe):
                low = probe
                break
            high, step = probe - 1, step * 2
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


def _likely_fit(pieces: list[str], top: int, first: int = 16, second: int = 32) -> int:
    """The count the limits likely allow: the shape of `first` and of `second` units, grown
    in proportion (most bodies here repeat one unit, whose shape adds up evenly)."""
    if top <= second:
        return top
    a = measure_html("".join(pieces[: first + 1]))
    b = measure_html("".join(pieces[: second + 1]))

    def over(count: int) -> bool:
        def at(x: int, y: int) -> float:
            return x + (y - x) * (count - first) / (second - first)

        elements, reopened = at(a.elements, b.elements), at(a.reopened, b.reopened)
        return (
            at(a.depth, b.depth) > LIMITS.max_depth
            or elements > LIMITS.max_elements
            or at(a.attributes, b.attributes) > LIMITS.max_attributes
            or reopened > max(LIMITS.max_reopened, elements - reopened)
        )

    low, high = 0, top
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if not over(middle) else (low, middle - 1)
    return low


_DEPTH = LIMITS.max_depth - 1
_FORMATTING = LIMITS.max_depth - 2  # the paragraph and the text's parent take two levels
_REOPENED = "<p>" + "".join(f'<b title="{i}">' for i in range(_FORMATTING)) + "x</p>"
_ATTRIBUTES = " ".join(f"data-a{i}=x" for i in range(LIMITS.max_attributes))
# How each kind's body is made, when it is first asked for.
_MAKERS: dict[str, Callable[[], str]] = {
    "text 1 MB": lambda: _fill(lambda _: "<p>" + "Şansımız var, dedi Lavrov. " * 40 + "</p>"),
    "entities": lambda: _fill(lambda _: "<p>" + "&amp;&lt;&#x15E;&#351;&nbsp;&quot;" * 40 + "</p>"),
    "nesting at the depth limit": lambda: _fill(
        lambda _: "<div>" * _DEPTH + "x" + "</div>" * _DEPTH
    ),
    # As many paragraphs as the re-opening allowance covers, then written elements.
    "formatting re-opened per paragraph": lambda: (
        _REOPENED + "<p>x</p>" * (LIMITS.max_reopened // _FORMATTING - 1)
    ),
    "re-opened as many as written": lambda: _fill(
        lambda _: "<br>" * _FORMATTING + "<p>x</p>", head=_REOPENED
    ),
    "adoption agency (misnested b/div)": lambda: _fill(lambda _: "<b><div>x</b>y</div>"),
    "misnested formatting chains": lambda: _fill(
        lambda _: "<b><i><u><s><em><strong><p>x</b>y</i>z</u></s></em></strong></p>"
    ),
    "attributes at the limit": lambda: _fill(lambda i: f"<p {_ATTRIBUTES}>{i}</p>"),
    "relative links and images": lambda: _fill(
        lambda i: f'<a href="/dunya/{i}?a=1&amp;b=2">l</a><img src="img/{i}.jpg" alt="">'
    ),
    "quotes with relative cite": lambda: _fill(lambda i: f'<q cite="../kaynak/{i}">s</q>'),
    "table cells": lambda: _fill(lambda _: "<td>x", head="<table><tr>"),
    "unclosed list items": lambda: _fill(lambda _: "<li>x", head="<ul>"),
    "comments and raw text": lambda: _fill(
        lambda _: "<!-- <div><div> --><style><div><div></style><script>x<y</script>"
    ),
}
EXPENSIVE_KINDS = tuple(_MAKERS)


def expensive_bodies() -> dict[str, str]:
    """Valid bodies (under the default limits), each the costliest of its kind found."""
    return {kind: expensive_body(kind) for kind in EXPENSIVE_KINDS}


@functools.cache  # the same every time: each is searched once per process
def expensive_body(kind: str) -> str:
    """The body of `expensive_bodies()` of one of EXPENSIVE_KINDS, made alone."""
    return _MAKERS[kind]()


def refused_bodies() -> dict[str, str]:
    """Bodies just over a limit, or far over it: each must be refused before parsing."""
    depth = LIMITS.max_depth + 1
    return {
        "nested 1 MB of divs": "<div>" * (MAX_BYTES // 5),
        "one over the depth limit": "<div>" * depth + "x",
        "one over the element limit": "<br>" * (LIMITS.max_elements + 1),
        "one over the attribute limit": "<p "
        + " ".join(f"a{i}" for i in range(LIMITS.max_attributes + 1))
        + ">",
        "formatting re-opened past the limit": "<p>"
        + "".join(f'<b title="{i}">' for i in range(40))
        + "</p>"
        + "<p>x</p>" * 1000,
    }


def timed(body: str, repeat: int) -> tuple[float, bool]:
    """Best time of `repeat` runs in seconds, and whether the body was accepted."""
    best, accepted = float("inf"), True
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            sanitize_html(body, ARTICLE_URL, LIMITS)
        except HtmlTooComplex:
            accepted = False
        best = min(best, time.perf_counter() - start)
    return best, accepted


def gil_stall(body: str, runs: int = 5) -> tuple[float, float]:
    """Seconds nh3 spends cleaning `body` `runs` times on a thread, and the longest this
    thread waited meanwhile to wake from 1 ms sleeps: small only if nh3 releases the GIL."""
    cleaner = nh3.Cleaner()
    worker = threading.Thread(target=lambda: [cleaner.clean(body) for _ in range(runs)])
    started = last = time.perf_counter()
    worker.start()
    longest = 0.0
    while worker.is_alive():
        time.sleep(0.001)
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    return time.perf_counter() - started, longest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per body; the best counts")
    args = parser.parse_args()
    print(f"limits: {LIMITS}; target ≤ {TARGET_MS_PER_KB:g} ms/KB")
    print(f"{'body':38} {'KB':>7} {'ms':>9} {'ms/KB':>7}  verdict")
    for title, groups in (("accepted", expensive_bodies()), ("refused", refused_bodies())):
        print(f"-- {title}")
        for name, body in groups.items():
            seconds, accepted = timed(body, args.repeat)
            kb = len(body.encode()) / 1024
            per_kb = seconds * 1000 / kb
            verdict = "ok" if per_kb <= TARGET_MS_PER_KB else "MISSED"
            if accepted != (title == "accepted"):
                verdict = "WRONG: " + ("refused" if not accepted else "accepted")
            print(f"{name:38} {kb:7.0f} {seconds * 1000:9.1f} {per_kb:7.3f}  {verdict}")
    busy, stall = gil_stall(expensive_bodies()["nesting at the depth limit"])
    print(
        f"-- GIL: nh3 cleaned for {busy * 1000:.0f} ms on a thread; this thread's longest wait"
        f" to wake from a 1 ms sleep meanwhile: {stall * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
