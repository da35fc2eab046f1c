"""Text hygiene: characters XML 1.0 forbids, Unicode normalization and HTML sanitizing."""

from __future__ import annotations

import re
import unicodedata

import nh3

# Everything outside XML 1.0's Char production: C0 controls except tab/LF/CR, lone
# surrogates and the non-characters U+FFFE/U+FFFF. One of these makes a whole feed invalid.
_XML_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# C1 controls are legal XML but never intended in news text.
_C1_CONTROLS = re.compile("[\x7f-\x9f]")

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "figcaption", "figure",
    "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "q", "s", "small",
    "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "u", "ul", "em",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "blockquote": {"cite"},
    "q": {"cite"},
}


def clean_text(value: str) -> str:
    """Return `value` NFC-normalized, without XML-forbidden or C1 control characters."""
    # Strip first: a removed character can separate a base from its combining mark.
    return unicodedata.normalize("NFC", _C1_CONTROLS.sub("", _XML_FORBIDDEN.sub("", value)))


_CLEANER = nh3.Cleaner(
    tags=_ALLOWED_TAGS,
    attributes=_ALLOWED_ATTRIBUTES,
    url_schemes={"http", "https", "mailto"},
    link_rel="noopener noreferrer",
)


def sanitize_html(value: str) -> str:
    """Return `value` reduced to an allow-list of tags and attributes, safe to embed anywhere."""
    html = _CLEANER.clean(clean_text(value))
    # Character references ("&#x1b;") decode to forbidden characters inside nh3. Replace
    # them rather than delete: deleting could join "java&#1;script:" into a live scheme.
    return _C1_CONTROLS.sub("\ufffd", _XML_FORBIDDEN.sub("\ufffd", html))
