"""The structural scan of body HTML: each limit just met and just passed, and, against the
real parser the sanitizer uses, never counting less than it builds."""

from __future__ import annotations

import re

import nh3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.html.limits import HtmlLimits, HtmlTooComplex, measure_html

LIMITS = HtmlLimits(max_depth=64, max_elements=20_000, max_attributes=100, max_reopened=1_000)


def nested(depth: int) -> str:
    return "<div>" * depth + "x" + "</div>" * depth


def test_nesting_at_the_limit_passes_and_one_more_is_refused() -> None:
    assert measure_html(nested(64), LIMITS).depth == 64
    with pytest.raises(HtmlTooComplex, match="deeper than 64"):
        measure_html(nested(65), LIMITS)


def test_a_void_element_counts_one_level_below_its_parent() -> None:
    assert measure_html("<div>" * 63 + "<br>", LIMITS).depth == 64
    with pytest.raises(HtmlTooComplex):
        measure_html("<div>" * 64 + "<img src=x>", LIMITS)


def test_elements_at_the_limit_pass_and_one_more_is_refused() -> None:
    assert measure_html("<p>x</p>" * 20_000, LIMITS).elements == 20_000
    with pytest.raises(HtmlTooComplex, match="more than 20000 elements"):
        measure_html("<p>x</p>" * 20_001, LIMITS)


def test_attributes_at_the_limit_pass_and_one_more_is_refused() -> None:
    def element(count: int) -> str:
        return "<p " + " ".join(f"data-a{i}='{i}'" for i in range(count)) + ">x</p>"

    assert measure_html(element(100), LIMITS).attributes == 100
    with pytest.raises(HtmlTooComplex, match="101 attributes"):
        measure_html(element(101), LIMITS)


def test_formatting_the_parser_reopens_counts_and_is_bounded() -> None:
    # Four b elements left open across paragraphs are re-opened in each following paragraph.
    body = "<p><b id=1><b id=2><b id=3><b id=4>x</p>" + "<p>y</p>" * 10
    shape = measure_html(body, LIMITS)
    assert shape.reopened == 40
    assert shape.elements == 1 + 4 + 10 + 40
    # Past the allowance of 1,000, no more may be re-opened than were written.
    wide = "<p>" + "".join(f"<b id={i}>" for i in range(60)) + "</p>" + "<p>x</p>" * 16
    assert measure_html(wide, LIMITS).reopened == 960
    with pytest.raises(HtmlTooComplex, match="re-open"):
        measure_html(wide + "<p>x</p>", LIMITS)


def test_a_huge_refused_body_stops_at_the_first_limit() -> None:
    # A megabyte of nesting is refused at the 65th element, before any quadratic work.
    with pytest.raises(HtmlTooComplex, match="deeper than 64"):
        measure_html("<div>" * 200_000, LIMITS)


@pytest.mark.parametrize(
    ("html", "depth"),
    [
        ("<p>a<p>b<p>c", 1),  # a p closes the open one
        ("<ul><li>a<li>b<li>c</ul>", 2),
        ("<table><tr><td>a<td>b<tr><td>c</table>", 4),  # table, implied tbody, tr, td
        ("<div><span>a<div>b</span>c</div></div>", 3),  # </span> cannot close past a div
        ("<style><div><div><div></style><p>x</p>", 1),  # raw text is text
        ("<script><!--<script></script><div><div></script>", 1),
        ('<p title="<div><div>">x</p>', 1),  # tags in attribute values are text
        ("<!-- <div><div> --><p>x</p>", 1),
        ("<svg><path/><path/><circle/></svg>", 2),
        ("<textarea><div><div></textarea>", 1),
    ],
)
def test_the_scan_follows_the_parser_on_common_shapes(html: str, depth: int) -> None:
    assert measure_html(html).depth == depth


def test_template_is_refused() -> None:
    with pytest.raises(HtmlTooComplex, match="template"):
        measure_html("<p>x</p><template><col><style></template><div>", LIMITS)


# Differential check against the sanitizer's own parser: with every tag of the soup allowed,
# its output is the parsed tree, serialized with an end tag for every element that has one.
_SOUP = (
    "div p b i a span table tr td th tbody caption colgroup col li ul ol dd dl dt h2 h3 form "
    "select option optgroup svg math mi mtext annotation-xml foreignObject desc title "
    "textarea xmp iframe style script noscript object em font s u code nobr br img hr "
    "blockquote pre button applet marquee plaintext input"
)
SOUP_TAGS = _SOUP.split()
RAW = {"textarea", "xmp", "iframe", "style", "script", "plaintext", "title", "noscript"}
VOID = {"br", "img", "hr", "col", "input"}
TREE = nh3.Cleaner(
    tags={t.lower() for t in SOUP_TAGS} - RAW,
    attributes={},
    clean_content_tags=set(),
    strip_comments=True,
    link_rel=None,
)
OUTPUT_TAG = re.compile(r"<(/?)([^\s/>]+)[^>]*>")


def built(html: str) -> tuple[int, int]:
    """Depth and element count of the tree the sanitizer's parser builds from `html`."""
    depth = elements = 0
    open_elements = 0
    for match in OUTPUT_TAG.finditer(TREE.clean(html)):
        if match.group(1):
            open_elements -= 1
            continue
        elements += 1
        depth = max(depth, open_elements + 1)
        if match.group(2).lower() not in VOID:
            open_elements += 1
    return depth, elements


ATTRIBUTES = st.sampled_from(
    ["", " a=1", ' x=">"', " title='</div>'", " encoding=text/html", " color=red", "/"]
)
TOKENS = st.one_of(
    st.builds(lambda t, a: f"<{t}{a}>", st.sampled_from(SOUP_TAGS), ATTRIBUTES),
    st.builds(lambda t: f"</{t}>", st.sampled_from(SOUP_TAGS)),
    st.sampled_from(
        ["x", " ", "<!--", "-->", "<!-->", "<![CDATA[", "]]>", "<", "&amp;", "</script >"]
    ),
)


@settings(
    max_examples=1500, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.lists(TOKENS, max_size=80))
def test_the_scan_never_counts_less_than_the_parser_builds(tokens: list[str]) -> None:
    html = "".join(tokens)
    shape = measure_html(html)
    depth, elements = built(html)
    assert shape.depth >= depth, html
    assert shape.elements >= elements, html
