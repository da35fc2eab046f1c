"""Text hygiene: characters XML 1.0 forbids, Unicode normalization and HTML sanitizing."""

from __future__ import annotations

import re
import unicodedata
from contextvars import ContextVar
from urllib.parse import urljoin

import nh3

# Everything outside XML 1.0's Char production (C0 controls except tab/LF/CR, lone
# surrogates, U+FFFE/U+FFFF), one of which makes a whole feed invalid; and C1 controls,
# legal XML but never intended in news text. One class, so text is scanned once.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

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
    return unicodedata.normalize("NFC", _FORBIDDEN.sub("", value))


# The article a body belongs to, while one is being cleaned: the cleaner is made once.
_BASE_URL: ContextVar[str | None] = ContextVar("base_url", default=None)


def _resolve_relative(url: str) -> str:
    base = _BASE_URL.get()
    return urljoin(base, url) if base else url


_CLEANER = nh3.Cleaner(
    tags=_ALLOWED_TAGS,
    attributes=_ALLOWED_ATTRIBUTES,
    url_schemes={"http", "https", "mailto"},
    url_relative=_resolve_relative,
    link_rel="noopener noreferrer",
)


def sanitize_html(value: str, base_url: str | None = None) -> str:
    """Return `value` reduced to an allow-list of tags and attributes, safe to embed anywhere.

    With `base_url`, relative links and image sources become absolute: a feed reader would
    resolve them against the feed's host, not the article's.
    """
    token = _BASE_URL.set(base_url)
    try:
        html = _CLEANER.clean(clean_text(value))
    finally:
        _BASE_URL.reset(token)
    if "&#" not in value:
        return html  # clean_text removed every forbidden character already
    # Character references ("&#x1b;") decode to forbidden characters inside nh3. Replace them
    # with a space rather than delete: deleting could join "java&#1;script:" into a live scheme.
    return _FORBIDDEN.sub(" ", html)
