"""The shape of HTML whose tree is simply its tags' nesting, read without the tree builder.

Most article bodies are written by an editor, not by hand: paragraphs, subheadings, lists and
quotes holding text, links, emphasis and images, every element closed where it ends. For
such markup an HTML5 parser builds exactly the tree the tags spell, so its depth, element
count and attributes can be read off the tags in one regular-expression pass, several times
faster than following the tree builder (shared/html/limits.py), which takes every other body.

`plain_shape` accepts only markup it can vouch for:
- every `<` opens a tag of the plain form below (no comments, doctypes, bogus tags or stray
  `<` in text, no `<` or `>` a quoted value could hide), start tags with attributes spelled
  out cleanly, end tags without any;
- only the elements named here: blocks that hold blocks (a blockquote, list, list item,
  figure, div), blocks that hold phrasing (paragraph, heading, pre), phrasing elements, and
  the void br, img and hr;
- a block opens only inside blocks that hold blocks, a list item only directly in a list,
  a link never inside a link, and every end tag closes the element open last; nothing is
  left open.
Under these rules none of the tree builder's corrections (closing a paragraph, a heading or
a list item implicitly, the adoption agency, re-opening formatting elements, foster
parenting, foreign content) can apply, so the shape is the one the full scan would give.
"""

from __future__ import annotations

import re

_WS = "[\t\n\f\r ]"
_TAG = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9]*)"
    # Attributes: a name after whitespace, and a value quoted or bare, as the tokenizer reads
    # them; characters it would read oddly (quotes, `<`, `=`, backtick) make no match.
    rf"((?:{_WS}+[^\t\n\f\r \"'>/=<`]+(?:{_WS}*={_WS}*(?:\"[^\"]*\"|'[^']*'"
    r"|[^\t\n\f\r \"'=<>`]+))?)*)"
    rf"{_WS}*(/?)>"
)
_ATTRIBUTE_NAME = re.compile(
    rf"{_WS}+([^\t\n\f\r \"'>/=<`]+)(?:{_WS}*={_WS}*(?:\"[^\"]*\"|'[^']*'|[^\t\n\f\r \"'=<>`]+))?"
)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_HOLD_BLOCKS = frozenset(("blockquote", "ul", "ol", "li", "figure", "figcaption", "div"))
_HOLD_PHRASING = frozenset(("p", "h1", "h2", "h3", "h4", "h5", "h6", "pre"))
_PHRASING = frozenset(
    ("a", "abbr", "b", "cite", "code", "em", "i", "q", "s", "small", "span", "strong", "sub",
     "sup", "u")
)  # fmt: skip
_LISTS = frozenset(("ul", "ol"))
_BLOCK_VOID = frozenset(("hr",))
_PHRASING_VOID = frozenset(("br", "img"))


def plain_shape(
    html: str, max_depth: int = 0, max_elements: int = 0, max_attributes: int = 0
) -> tuple[int, int, int] | None:
    """The depth, element count and most attributes on one element of `html` if its tree is
    plainly its tags' nesting (see the module), else None: then only the full scan can tell.

    Also None as soon as a bound given (above 0) is passed, so that a huge hostile body costs
    no more than the few tags that pass it before the full scan refuses it.
    """
    depth = elements = most_attributes = 0
    stack: list[str] = []
    blocks_only = 0  # how many elements from the bottom of the stack hold blocks
    tags = 0
    for match in _TAG.finditer(html):
        tags += 1
        closing, raw_name, attributes, self_closing = match.groups()
        name = raw_name if raw_name.islower() else raw_name.translate(_ASCII_LOWER)
        if closing:
            if attributes or self_closing or not stack or stack[-1] != name:
                return None
            stack.pop()
            blocks_only = min(blocks_only, len(stack))
            continue
        in_blocks = blocks_only == len(stack)
        if name in _PHRASING_VOID or name in _BLOCK_VOID:
            if name in _BLOCK_VOID and not in_blocks:
                return None
        elif self_closing:
            return None  # the slash means nothing on these: left to the full scan
        elif name in _PHRASING:
            if name == "a" and "a" in stack:
                return None
        elif name in _HOLD_BLOCKS:
            if not in_blocks or (name == "li" and not (stack and stack[-1] in _LISTS)):
                return None
        elif name not in _HOLD_PHRASING or not in_blocks:
            return None
        elements += 1
        depth = max(depth, len(stack) + 1)
        if attributes:
            names = {n.translate(_ASCII_LOWER) for n in _ATTRIBUTE_NAME.findall(attributes)}
            most_attributes = max(most_attributes, len(names))
        if (
            (max_elements and elements > max_elements)
            or (max_depth and depth > max_depth)
            or (max_attributes and most_attributes > max_attributes)
        ):
            return None
        if name in _PHRASING_VOID or name in _BLOCK_VOID:
            continue
        stack.append(name)
        if in_blocks and name in _HOLD_BLOCKS:
            blocks_only += 1
    if stack or tags != html.count("<"):
        return None
    return depth, elements, most_attributes
