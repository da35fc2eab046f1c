"""The HTML5 tokenizer's reading of a fragment, in one linear pass: tags with their
attributes and runs of text, comments and bogus comments skipped, and an element's raw text
(style, script, textarea, ...) skipped once the tree builder says it holds some."""

from __future__ import annotations

import re
from typing import Protocol

WHITESPACE = "\t\n\f\r "
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_TAG_NAME = re.compile(r"[A-Za-z][^\t\n\f\r />]*")
# One step of the attribute states: separators, then `>` or one attribute and its value.
_ATTRIBUTE = re.compile(
    r"""(?P<gap>[\t\n\f\r /]*)(?:(?P<end>>)|(?P<name>[^\t\n\f\r />][^\t\n\f\r /=>]*)"""
    r"""[\t\n\f\r ]*(?:=[\t\n\f\r ]*(?:"(?P<dq>[^"]*)(?P<dqe>")?|'(?P<sq>[^']*)(?P<sqe>')?"""
    r"""|(?P<bare>[^\t\n\f\r >]*)))?)?"""
)
# A tag with no attributes and a plain name, the commonest by far (`<p>`, `</strong>`): read
# in one step, as the general path below would read it.
_PLAIN_TAG = re.compile(r"([A-Za-z][A-Za-z0-9]*)>")
_COMMENT_END = re.compile(r"--!?>")
_SCRIPT_STEP = re.compile(r"</script[\t\n\f\r />]|<!--|<script[\t\n\f\r />]|-->", re.I)


class TreeBuilder(Protocol):
    """What the tokenizer feeds, and the two things it must ask back."""

    def text(self, start: int, end: int) -> None: ...

    def attributes(self, count: int) -> None:
        """Told each start tag's attribute count (early, once past `max_attributes`)."""

    def start_tag(self, name: str, attributes: dict[str, str], self_closing: bool) -> bool:
        """Returns whether the element now open holds raw text up to its end tag."""
        ...

    def end_tag(self, name: str) -> None: ...

    def in_foreign_content(self) -> bool:
        """Whether `<![CDATA[` opens a CDATA section here (else it is a bogus comment)."""
        ...


def tokenize(html: str, tree: TreeBuilder, max_attributes: int | None = None) -> None:
    """Feed `html`'s tokens to `tree`, which may stop the pass by raising."""
    _Tokenizer(html, tree, max_attributes).run()


class _Tokenizer:
    def __init__(self, html: str, tree: TreeBuilder, max_attributes: int | None) -> None:
        self.html = html
        self.tree = tree
        self.max_attributes = max_attributes

    def run(self) -> None:
        html, tree, pos, end = self.html, self.tree, 0, len(self.html)
        while pos < end:
            lt = html.find("<", pos)
            if lt < 0:
                tree.text(pos, end)
                return
            if lt > pos:
                tree.text(pos, lt)
            nxt = html[lt + 1 : lt + 2]
            if nxt.isascii() and nxt.isalpha():
                pos = self._tag(lt + 1, end_tag=False)
            elif nxt == "/":
                after = html[lt + 2 : lt + 3]
                if after.isascii() and after.isalpha():
                    pos = self._tag(lt + 2, end_tag=True)
                elif after == ">":
                    pos = lt + 3
                else:
                    pos = self._until(">", lt + 2)  # a bogus comment
            elif nxt == "!":
                pos = self._markup_declaration(lt + 2)
            elif nxt == "?":
                pos = self._until(">", lt + 1)
            else:
                tree.text(lt, lt + 1)
                pos = lt + 1

    def _until(self, needle: str, start: int) -> int:
        found = self.html.find(needle, start)
        return len(self.html) if found < 0 else found + len(needle)

    def _markup_declaration(self, start: int) -> int:
        html = self.html
        if html.startswith("--", start):
            body = start + 2
            if html.startswith(">", body):  # `<!-->` and `<!--->` close at once
                return body + 1
            if html.startswith("->", body):
                return body + 2
            found = _COMMENT_END.search(html, body)
            return len(html) if found is None else found.end()
        if html.startswith("[CDATA[", start) and self.tree.in_foreign_content():
            return self._until("]]>", start + 7)
        return self._until(">", start)

    def _tag(self, start: int, end_tag: bool) -> int:
        """Tokenize the tag whose name is at `start`; returns where reading resumes."""
        html = self.html
        plain = _PLAIN_TAG.match(html, start)
        if plain is not None:
            name, pos = plain.group(1).translate(ASCII_LOWER), plain.end()
            if end_tag:
                self.tree.end_tag(name)
                return pos
            self.tree.attributes(0)
            if self.tree.start_tag(name, {}, False):
                return self._skip_raw(name, pos)
            return pos
        name_match = _TAG_NAME.match(html, start)
        assert name_match is not None
        name = name_match.group().translate(ASCII_LOWER)
        pos = name_match.end()
        attributes: dict[str, str] = {}
        while True:
            step = _ATTRIBUTE.match(html, pos)
            assert step is not None
            pos = step.end()
            if step["end"]:
                break
            open_quote = (step["dq"] is not None and not step["dqe"]) or (
                step["sq"] is not None and not step["sqe"]
            )
            if step["name"] is None or open_quote:
                return len(html)  # the input ends inside the tag, which is dropped
            value = step["dq"] or step["sq"] or step["bare"] or ""
            attributes.setdefault(step["name"].translate(ASCII_LOWER), value)
            if not end_tag and self.max_attributes and len(attributes) > self.max_attributes:
                self.tree.attributes(len(attributes))
        if end_tag:
            self.tree.end_tag(name)
            return pos
        self.tree.attributes(len(attributes))
        if self.tree.start_tag(name, attributes, step["gap"].endswith("/")):
            return self._skip_raw(name, pos)
        return pos

    def _skip_raw(self, name: str, pos: int) -> int:
        """Skip raw text to the element's end tag, which is then read as a tag."""
        html = self.html
        if name == "plaintext":  # the rest is text
            if pos < len(html):
                self.tree.text(pos, len(html))
            return len(html)
        if name == "script":
            return self._skip_script(pos)
        found = re.compile(r"</" + re.escape(name) + r"[\t\n\f\r />]", re.I).search(html, pos)
        return len(html) if found is None else found.start()

    def _skip_script(self, pos: int) -> int:
        # Script data's escape states: inside `<!--`, a `<script` hides the next `</script>`.
        html, escaped, double = self.html, False, False
        while True:
            found = _SCRIPT_STEP.search(html, pos)
            if found is None:
                return len(html)
            token = found.group().lower()
            pos = found.end()
            if token.startswith("</script"):
                if not double:
                    return found.start()
                double = False
                pos = found.end() - 1
            elif token == "<!--":
                escaped = True
                pos = found.start() + 2  # in `<!-->` the dashes also close
            elif token.startswith("<script"):
                double = double or escaped
                pos = found.end() - 1
            else:  # "-->"
                escaped = double = False
