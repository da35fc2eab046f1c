"""The quick reading of plainly nested HTML: it takes editor-written bodies, leaves every body
whose tree differs from its tags to the full scan, and never tells the limits a shape other
than the one the full scan (and the sanitizer's own parser) gives."""

from __future__ import annotations

import nh3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.html.limits import HtmlLimits, HtmlTooComplex, _Scan, measure_html
from shared.html.plain_nesting import plain_shape
from tests.conftest import load_corpus
from tests.shared.html.test_limits import OUTPUT_TAG

LIMITS = HtmlLimits(max_depth=64, max_elements=20_000, max_attributes=100, max_reopened=1_000)


def built(html: str) -> tuple[int, int]:
    """Depth and element count of the tree the sanitizer's parser builds (every tag allowed,
    so its output is the tree, serialized), as tests/shared/html/test_limits.py reads it."""
    depth = elements = open_elements = 0
    for match in OUTPUT_TAG.finditer(TREE.clean(html)):
        if match.group(1):
            open_elements -= 1
            continue
        elements += 1
        depth = max(depth, open_elements + 1)
        if match.group(2).lower() not in ("br", "img", "hr"):
            open_elements += 1
    return depth, elements


def full_scan(html: str) -> tuple[int, int, int]:
    shape = _Scan(html, None).run()
    assert shape.reopened == 0
    return shape.depth, shape.elements, shape.attributes


def test_the_corpus_bodies_are_read_quickly_and_as_the_full_scan_reads_them() -> None:
    bodies = [a["body_html"] for a in load_corpus() if a.get("body_html")]
    assert bodies
    for body in bodies:
        assert plain_shape(body) == full_scan(body)


@pytest.mark.parametrize(
    ("html", "shape"),
    [
        ("<p>a <b>b <i>c</i></b></p><h2>d</h2>", (3, 4, 0)),
        ("<ul><li><p>a<br>b</p></li><li>c</li></ul><hr>", (4, 6, 0)),
        ('<blockquote><p>"a" <a href="/?b=1&amp;c" title=\'t\'>x</a></p></blockquote>', (3, 3, 2)),
        ('<figure><img src=a.jpg ALT="x" alt=y><figcaption>c</figcaption></figure>', (2, 3, 2)),
        ("<p title='a>b'>c</p>", (1, 1, 1)),  # a quoted `>` ends no tag
        ("plain text, no markup", (0, 0, 0)),
    ],
)
def test_plain_markup_gives_the_full_scans_shape(html: str, shape: tuple[int, int, int]) -> None:
    assert plain_shape(html) == shape == full_scan(html)
    assert measure_html(html, LIMITS).depth == shape[0]


@pytest.mark.parametrize(
    "html",
    [
        "<p>a<p>b",  # left open, and a p closes the one open
        "<p>a<div>b</div></p>",  # a block closes the paragraph
        "<b>a<p>b</p></b>",  # a block in formatting: the adoption agency moves it
        "<b><i>a</b></i>",  # misnested formatting is re-opened
        "<a href=x>a<a href=y>b</a></a>",  # a link closes the open link
        "<li>a</li>",  # a list item outside a list
        "<h2>a<h3>b</h3></h2>",  # a heading closes the open one
        "<p/>a",  # the slash means nothing on a p
        "<table><tr><td>a</td></tr></table>",
        "<p>a < b</p>",
        "<!-- c --><p>a</p>",
        '<p title="<b>">a</p>',
        '<p title=a"b>c</p>',
        "<br></br>",
        "</p>",
        "<svg><p>a</p></svg>",
        "<script>x</script>",
        "<p>a</p attr=x>",
    ],
)
def test_markup_the_parser_would_correct_is_left_to_the_full_scan(html: str) -> None:
    assert plain_shape(html) is None


def test_limits_passed_by_plain_markup_are_refused_with_the_full_scans_message() -> None:
    deep = "<blockquote>" * 65 + "x" + "</blockquote>" * 65
    assert plain_shape(deep) is not None
    with pytest.raises(HtmlTooComplex, match="deeper than 64"):
        measure_html(deep, LIMITS)
    attributes = "<p " + " ".join(f"a{i}=1" for i in range(101)) + ">x</p>"
    with pytest.raises(HtmlTooComplex, match="101 attributes"):
        measure_html(attributes, LIMITS)


PLAIN_TAGS = [
    *("p", "h2", "h3", "pre", "blockquote", "ul", "ol", "li", "figure", "figcaption", "div"),
    *("a", "b", "i", "em", "strong", "code", "s", "small", "span", "sub", "sup", "u", "q"),
    *("cite", "abbr", "br", "img", "hr", "table", "td", "svg", "script", "nobr", "font"),
]
TREE = nh3.Cleaner(
    tags=set(PLAIN_TAGS) - {"script"},
    attributes={},
    clean_content_tags=set(),
    strip_comments=True,
    link_rel=None,
)
ATTRIBUTES = st.sampled_from(
    ["", " a=1", ' href="x>y"', " title='a'", ' A=1 a="2"', " b", "/", ' x="<p>"', " c=d/"]
)
TOKENS = st.one_of(
    st.builds(lambda t, a: f"<{t}{a}>", st.sampled_from(PLAIN_TAGS), ATTRIBUTES),
    st.builds(lambda t: f"</{t}>", st.sampled_from(PLAIN_TAGS)),
    st.sampled_from(["x", " ", "<!--", "-->", "<", "&amp;", "\n"]),
)


@settings(
    max_examples=1500, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.lists(TOKENS, max_size=60))
def test_whatever_it_reads_the_full_scan_and_the_parser_read_alike(tokens: list[str]) -> None:
    html = "".join(tokens)
    shape = plain_shape(html)
    if shape is None:
        return
    assert shape == full_scan(html), html
    assert shape[:2] == built(html), html


def _wrap(tag: str, children: list[str]) -> str:
    if tag in ("br", "img", "hr"):
        return f"<{tag}>" + "".join(children)
    return f"<{tag}>" + "".join(children) + f"</{tag}>"


@settings(max_examples=1000, derandomize=True, deadline=None)
@given(
    st.recursive(
        st.just("x"),
        lambda inner: st.builds(_wrap, st.sampled_from(PLAIN_TAGS), st.lists(inner, max_size=3)),
    )
)
def test_well_nested_trees_are_read_alike(html: str) -> None:
    shape = plain_shape(html)
    if shape is not None:
        assert shape == full_scan(html), html
        assert shape[:2] == built(html), html


def test_a_bound_passed_ends_the_quick_reading() -> None:
    paragraphs = "<p>x</p>" * 30_000
    assert plain_shape(paragraphs) == (1, 30_000, 0)
    assert plain_shape(paragraphs, max_elements=20_000) is None
    assert plain_shape("<div>" * 70 + "</div>" * 70, max_depth=64) is None
    assert plain_shape("<p a b c>x</p>", max_attributes=2) is None
    assert plain_shape("<p a b>x</p>", 64, 20_000, 2) == (1, 1, 2)
