"""Structural limits of an HTML fragment (nesting depth, elements, attributes per element).

An HTML5 parser's work grows faster than linearly with nesting depth, with attributes on one
element, and with formatting elements it must re-open in every following block. A body is
therefore measured first by one linear scan that follows the HTML5 tokenizer exactly and the
tree builder closely enough never to count less than it builds: where the scan cannot be
sure a parser would close an element, it keeps it open. Work per tag is bounded by the
limits, because the scan stops at the first one passed. Markup whose tree is plainly its
tags' nesting, as most bodies are, is read more quickly (shared/html/plain_nesting.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.html.plain_nesting import plain_shape
from shared.html.tokens import ASCII_LOWER, WHITESPACE, tokenize


@dataclass(frozen=True)
class HtmlLimits:
    max_depth: int = 64
    max_elements: int = 20_000
    max_attributes: int = 100
    # Formatting elements the parser re-opens (misnested or left open across blocks) cost
    # like written ones but take no bytes: past this floor, at most as many as were written.
    max_reopened: int = 1_000


@dataclass
class HtmlShape:
    """What a parser would build: deepest nesting, elements (re-opened ones included) and the
    most attributes on one element; at least as large as the real figures."""

    depth: int = 0
    elements: int = 0
    attributes: int = 0
    reopened: int = 0


class HtmlTooComplex(ValueError):
    """The fragment passes one of the limits; the message says which."""


def _names(words: str) -> frozenset[str]:
    return frozenset(words.split())


_FORMATTING = _names("a b big code em font i nobr s small strike strong tt u")
_VOID = _names(
    "area base basefont bgsound br col embed frame hr image img input keygen link meta param "
    "source track wbr html body head frameset"  # the last four are ignored in a body
)
# noscript too: the sanitizer parses with scripting enabled.
_RAWTEXT = _names("iframe noembed noframes noscript xmp style script plaintext textarea title")
_SPECIAL = _names(
    "address applet area article aside base basefont bgsound blockquote body br button caption "
    "center col colgroup dd details dir div dl dt embed fieldset figcaption figure footer form "
    "frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html iframe img input keygen li "
    "link listing main marquee menu meta nav noembed noframes noscript object ol p param "
    "plaintext pre script search section select source style summary table tbody td template "
    "textarea tfoot th thead title tr track ul wbr xmp"
)
# A select is a boundary too: the parser ignores end tags of elements outside it.
# "#points": SVG and MathML integration points bound these scopes, not the table scope.
_SCOPE = _names("applet caption html table td th marquee object template select #points")
_BUTTON_SCOPE = _SCOPE | {"button"}
_LIST_SCOPE = _SCOPE | {"ol", "ul"}
_TABLE_SCOPE = frozenset(("html", "table", "template"))
_MARKERS = _names("applet marquee object template td th caption")
_HEADINGS = _names("h1 h2 h3 h4 h5 h6")
_CLOSES_P = _names(
    "address article aside blockquote center details dialog dir div dl fieldset figcaption "
    "figure footer header hgroup main menu nav ol p search section summary ul h1 h2 h3 h4 h5 "
    "h6 pre listing form hr xmp plaintext table"
)
_TABLE_PARTS = _names("caption col colgroup tbody td tfoot th thead tr")
_SECTIONS = frozenset(("tbody", "thead", "tfoot"))
_IMPLIED_END = _names("dd dt li option p rb rp rt rtc")
# Start tags that leave SVG or MathML content for HTML (font only with these attributes).
_BREAKOUT = _names(
    "b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr i "
    "img li listing menu meta nobr ol p pre ruby s small span strong strike sub sup table tt u "
    "ul var"
)
_FONT_BREAKOUT = frozenset(("color", "face", "size"))
_TEXT_POINTS = _names("mi mo mn ms mtext")
_SVG_POINTS = frozenset(("foreignobject", "desc", "title"))


class _Node:
    """An open element: its name, namespace and place in the formatting list."""

    __slots__ = ("depth", "foreign", "in_list", "name", "namespace", "on_stack", "point")

    def __init__(self, name: str, namespace: str = "", point: bool = False) -> None:
        self.name = name
        self.namespace = namespace  # "" for HTML, else "svg" or "math"
        self.foreign = bool(namespace)
        self.point = point  # where HTML resumes inside SVG or MathML
        self.in_list = False
        self.on_stack = False
        self.depth = 0  # in the tree, which a removed ancestor leaves deeper than the stack

    @property
    def special(self) -> bool:
        return self.point if self.foreign else self.name in _SPECIAL

    def bounds(self, scope: frozenset[str]) -> bool:
        if self.foreign:
            return self.point and "#points" in scope
        return self.name in scope


_MARKER = _Node("#marker")


def measure_html(html: str, limits: HtmlLimits | None = None) -> HtmlShape:
    """Measure `html` as an HTML5 parser would build it.

    Raises:
        HtmlTooComplex: with `limits`, as soon as the fragment passes one.
    """
    if limits is None:
        plain = plain_shape(html)
    else:
        plain = plain_shape(html, limits.max_depth, limits.max_elements, limits.max_attributes)
    if plain is not None:
        return HtmlShape(*plain)
    return _Scan(html, limits).run()  # which names the limit passed, or measures the rest


class _Scan:
    """The HTML5 tree builder's stack of open elements and list of active formatting
    elements, kept without building the tree; fed by the tokenizer."""

    def __init__(self, html: str, limits: HtmlLimits | None) -> None:
        self.html = html
        self.limits = limits
        self.shape = HtmlShape()
        self.stack: list[_Node] = []
        self.formatting: list[_Node] = []  # the active formatting elements, with markers
        self.form_open = False  # the parser's form pointer: only `</form>` clears it

    def run(self) -> HtmlShape:
        tokenize(self.html, self, self.limits.max_attributes if self.limits else None)
        return self.shape

    # What the tokenizer calls.

    def text(self, start: int, end: int) -> None:
        if self._in_foreign():
            return
        top = self.stack[-1] if self.stack else None
        if top and top.name == "colgroup" and self.html[start:end].strip(WHITESPACE):
            self._pop_through(len(self.stack) - 1)  # text ends a column group
        self._reconstruct()

    def attributes(self, count: int) -> None:
        self.shape.attributes = max(self.shape.attributes, count)
        if self.limits and count > self.limits.max_attributes:
            raise HtmlTooComplex(
                f"an element has {count} attributes; at most {self.limits.max_attributes}"
            )

    def start_tag(self, name: str, attributes: dict[str, str], self_closing: bool) -> bool:
        self._start(name, attributes, self_closing)
        top = self.stack[-1] if self.stack else None
        return name in _RAWTEXT and top is not None and top.name == name and not top.foreign

    def end_tag(self, name: str) -> None:
        self._end(name)

    def in_foreign_content(self) -> bool:
        return self._foreign_end()

    # Tree builder.

    def _in_foreign(self) -> bool:
        """Whether a start tag or text would be foreign content (end tags: `_foreign_end`)."""
        return bool(self.stack) and self.stack[-1].foreign and not self.stack[-1].point

    def _foreign_end(self) -> bool:
        return bool(self.stack) and self.stack[-1].foreign

    def _count_element(self) -> None:
        self.shape.elements += 1
        if self.limits and self.shape.elements > self.limits.max_elements:
            raise HtmlTooComplex(f"more than {self.limits.max_elements} elements")

    def _leaf(self) -> None:
        """An element that holds nothing (void, self-closed or ignored) one level down."""
        self._count_element()
        self._deepen(self._depth_below() + 1)

    def _depth_below(self) -> int:
        return max(len(self.stack), self.stack[-1].depth) if self.stack else 0

    def _deepen(self, depth: int) -> None:
        if depth > self.shape.depth:
            self.shape.depth = depth
            if self.limits and depth > self.limits.max_depth:
                raise HtmlTooComplex(f"elements nest deeper than {self.limits.max_depth}")

    def _push(self, node: _Node) -> None:
        self._count_element()
        node.depth = self._depth_below() + 1
        node.on_stack = True
        self.stack.append(node)
        self._deepen(node.depth)

    def _pop_through(self, index: int) -> None:
        popped = self.stack[index:]
        del self.stack[index:]
        for node in popped:
            node.on_stack = False
            if node.name in ("td", "th", "caption") and not node.foreign:
                self._clear_to_marker()  # closing a cell or caption clears to its marker

    def _find(self, name: str, scope: frozenset[str] | None, special_stops: bool = False) -> int:
        """Index of the nearest open HTML `name` that the parser would reach, or -1."""
        for index in range(len(self.stack) - 1, -1, -1):
            node = self.stack[index]
            if node.name == name and not node.foreign:
                return index
            if (scope is not None and node.bounds(scope)) or (special_stops and node.special):
                return -1
        return -1

    def _reconstruct(self) -> None:
        entries = self.formatting
        first = len(entries)
        while first > 0 and entries[first - 1] is not _MARKER and not entries[first - 1].on_stack:
            first -= 1
        for node in entries[first:]:
            self._reopened()
            self._push(node)

    def _reopened(self) -> None:
        shape, limits = self.shape, self.limits
        shape.reopened += 1
        written = shape.elements - shape.reopened
        if limits and shape.reopened > max(limits.max_reopened, written):
            raise HtmlTooComplex(
                f"the parser would re-open {shape.reopened} formatting elements, more than"
                f" the {max(limits.max_reopened, written)} allowed; close them where they end"
            )

    def _clear_to_marker(self) -> None:
        while self.formatting:
            node = self.formatting.pop()
            if node is _MARKER:
                return
            node.in_list = False

    def _start(self, name: str, attributes: dict[str, str], self_closing: bool) -> None:
        top = self.stack[-1] if self.stack else None
        if top and top.name == "colgroup" and not top.foreign and name != "col":
            self._pop_through(len(self.stack) - 1)  # anything but a col ends a column group
        if name == "template" and not self._in_foreign():
            # Its parsing modes ignore tags in ways a scan cannot follow without building
            # the tree; inert content has no place in an article anyway.
            raise HtmlTooComplex("template elements are not accepted")
        if self._in_foreign():
            breakout = name in _BREAKOUT or (name == "font" and _FONT_BREAKOUT & attributes.keys())
            if not breakout:
                self._start_foreign(name, attributes, self_closing)
                return
            self._leave_foreign()
        self._start_html(name, self_closing)

    def _start_html(self, name: str, self_closing: bool) -> None:
        if name in ("svg", "math"):
            self._reconstruct()
            if self_closing:
                self._leaf()
            else:
                self._push(_Node(name, name))
            return
        if name in _TABLE_PARTS:
            self._start_table_part(name)
            return
        if name in ("select", "input", "keygen") and (index := self._find("select", _SCOPE)) >= 0:
            self._pop_through(index)  # these close an open select
            if name == "select":
                self._leaf()
                return
        if name == "hr":
            self._close_p()
        if name in _VOID:
            if name not in ("area", "br", "embed", "img", "image", "keygen", "wbr", "input"):
                self._leaf()
                return
            self._reconstruct()
            self._leaf()
            return
        if name == "form":
            if self.form_open:
                return  # a form inside a form is ignored
            self.form_open = True
            if self._open_table() >= 0:
                self._leaf()  # in a table's own content a form is closed at once
                return
        if name == "table" and (index := self._open_table()) >= 0:
            self._pop_through(index)  # a table directly in a table closes it
        if name in _CLOSES_P:
            self._close_p()
            if name in _HEADINGS and self.stack and self.stack[-1].name in _HEADINGS:
                self._pop_through(len(self.stack) - 1)
            if name == "xmp":
                self._reconstruct()
            self._push(_Node(name))
            return
        if name == "button" and (index := self._find("button", _SCOPE)) >= 0:
            self._pop_through(index)
        if name in ("li", "dd", "dt"):
            self._close_list_item(("li",) if name == "li" else ("dd", "dt"))
            self._close_p()
            self._push(_Node(name))
            return
        self._start_other(name)

    def _start_other(self, name: str) -> None:
        """Options, links, formatting and every other element that opens where it stands."""
        if name == "option" and self._find("select", _SCOPE) >= 0:
            while self.stack and self.stack[-1].name in _IMPLIED_END:
                self._pop_through(len(self.stack) - 1)  # an option closes what it implies
        elif name == "option" and self.stack and self.stack[-1].name == "option":
            self._pop_through(len(self.stack) - 1)
        if name == "a" and self._listed("a") is not None:
            self._adoption_agency("a")  # an open link closes before another opens
            if (stale := self._listed("a")) is not None:
                self._forget(stale)
        if name == "nobr":
            self._reconstruct()
            if self._find("nobr", _SCOPE) >= 0:
                self._adoption_agency("nobr")
        if name not in ("table", "template", "textarea", "title", "style", "script", "noscript"):
            self._reconstruct()
        node = _Node(name)
        self._push(node)
        if name in _FORMATTING:
            node.in_list = True
            self.formatting.append(node)
        elif name in _MARKERS:
            self.formatting.append(_MARKER)

    def _leave_foreign(self) -> None:
        while self._in_foreign():
            self._pop_through(len(self.stack) - 1)

    def _start_foreign(self, name: str, attributes: dict[str, str], self_closing: bool) -> None:
        if self_closing:
            self._leaf()
            return
        namespace = self.stack[-1].namespace
        if namespace == "svg":
            point = name in _SVG_POINTS
        else:
            point = name in _TEXT_POINTS or (
                name == "annotation-xml"
                and attributes.get("encoding", "").translate(ASCII_LOWER)
                in ("text/html", "application/xhtml+xml")
            )
        self._push(_Node(name, namespace, point))

    def _open_table(self) -> int:
        """The table whose own content the parser is in (not a cell's or caption's), or -1."""
        for index in range(len(self.stack) - 1, -1, -1):
            node = self.stack[index]
            if node.foreign:
                continue
            if node.name == "table":
                return index
            if node.name in ("td", "th", "caption", "template", "html"):
                return -1
        return -1

    def _close_p(self) -> None:
        index = self._find("p", _BUTTON_SCOPE)
        if index >= 0:
            self._pop_through(index)

    def _close_list_item(self, names: tuple[str, ...]) -> None:
        for index in range(len(self.stack) - 1, -1, -1):
            node = self.stack[index]
            if node.name in names and not node.foreign:
                self._pop_through(index)
                return
            if node.special and node.name not in ("address", "div", "p"):
                return

    def _start_table_part(self, name: str) -> None:
        table = self._find("table", frozenset(("html", "template")))
        if table < 0:
            self._leaf()  # outside a table the parser ignores it
            return
        keep = table
        if name in ("td", "th", "tr"):
            wanted = ("tr",) if name != "tr" else ()
            for index in range(len(self.stack) - 1, table, -1):
                node_name = self.stack[index].name
                if node_name in wanted or node_name in _SECTIONS:
                    keep = index
                    break
        self._pop_through(keep + 1)
        top = self.stack[keep].name
        if name in ("td", "th", "tr") and top == "table":
            self._push(_Node("tbody"))
            top = "tbody"
        if name in ("td", "th") and top in _SECTIONS:
            self._push(_Node("tr"))
        if name == "col" and self.stack[-1].name != "colgroup":
            self._push(_Node("colgroup"))
        if name == "col":
            self._leaf()
            return
        self._push(_Node(name))
        if name in _MARKERS:
            self.formatting.append(_MARKER)

    def _end(self, name: str) -> None:
        if name in ("br", "p") and self._foreign_end():
            while self._in_foreign():
                self._pop_through(len(self.stack) - 1)
        elif self._foreign_end():
            for index in range(len(self.stack) - 1, -1, -1):
                node = self.stack[index]
                if not node.foreign:
                    break
                if node.name == name:
                    self._pop_through(index)
                    return
        if name in _FORMATTING:
            self._adoption_agency(name)
        elif name in ("body", "html", "head", "col"):
            return
        elif name == "colgroup":
            if self.stack and self.stack[-1].name == "colgroup":
                self._pop_through(len(self.stack) - 1)
        elif name == "br":
            self._reconstruct()
            self._leaf()
        elif name == "p":
            index = self._find("p", _BUTTON_SCOPE)
            if index < 0:
                self._leaf()  # the parser inserts an empty p
            else:
                self._pop_through(index)
        elif name == "form":
            self.form_open = False
            index = self._find("form", _SCOPE)
            if index >= 0:  # only the form leaves the stack, not what it holds
                self.stack.pop(index).on_stack = False
        elif name in _HEADINGS:
            for index in range(len(self.stack) - 1, -1, -1):
                node = self.stack[index]
                if node.name in _HEADINGS and not node.foreign:
                    self._pop_through(index)
                    return
                if node.bounds(_SCOPE):
                    return
        elif name in _TABLE_PARTS or name == "table":
            index = self._find(name, _TABLE_SCOPE)
            if index >= 0:
                self._pop_through(index)
        elif name in _SPECIAL:
            index = self._find(name, _LIST_SCOPE if name == "li" else _SCOPE)
            if index >= 0:
                self._pop_through(index)
                if name in _MARKERS:
                    self._clear_to_marker()
        else:
            self._any_other_end(name)

    def _any_other_end(self, name: str) -> None:
        index = self._find(name, None, special_stops=True)
        if index >= 0:
            self._pop_through(index)

    def _listed(self, name: str) -> _Node | None:
        """The last formatting element named `name` after the last marker."""
        for node in reversed(self.formatting):
            if node is _MARKER:
                return None
            if node.name == name:
                return node
        return None

    def _forget(self, node: _Node) -> None:
        self.formatting.remove(node)
        node.in_list = False
        if node.on_stack:
            self.stack.remove(node)
            node.on_stack = False

    def _adoption_agency(self, name: str) -> None:
        stack, entries = self.stack, self.formatting
        if stack and stack[-1].name == name and not stack[-1].foreign and not stack[-1].in_list:
            self._pop_through(len(stack) - 1)
            return
        for _ in range(8):
            element = self._listed(name)
            if element is None:
                self._any_other_end(name)
                return
            if not element.on_stack:
                entries.remove(element)
                element.in_list = False
                return
            index = next(i for i in range(len(stack) - 1, -1, -1) if stack[i] is element)
            if any(node.bounds(_SCOPE) for node in stack[index + 1 :]):
                return
            furthest = next((i for i in range(index + 1, len(stack)) if stack[i].special), None)
            if furthest is None:
                self._pop_through(index)
                entries.remove(element)
                element.in_list = False
                return
            self._rebuild(index, furthest)

    def _rebuild(self, index: int, furthest: int) -> None:
        """One outer step of the adoption agency: the formatting element at `index` moves
        above the furthest block; what lies between is cloned or leaves the stack."""
        stack, entries = self.stack, self.formatting
        element = stack[index]
        kept: list[_Node] = []
        for distance, node in enumerate(reversed(stack[index + 1 : furthest]), start=1):
            if distance > 3 and node.in_list:
                entries.remove(node)
                node.in_list = False
            if node.in_list:
                kept.append(node)
                self._reopened()
                self._count_element()  # a clone
            else:
                node.on_stack = False
        kept.reverse()
        block = stack[furthest]
        self._reopened()
        clone = _Node(element.name)
        clone.in_list = True
        entries[entries.index(element)] = clone
        element.in_list = element.on_stack = False
        rest = stack[furthest + 1 :]
        del stack[index:]
        stack.extend([*kept, block])
        self._push(clone)
        stack.extend(rest)
        self._deepen(len(stack))
        for node in rest:  # the furthest block's children move into the clone
            node.depth += 1
            self._deepen(node.depth)
