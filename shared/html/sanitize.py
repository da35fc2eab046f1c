"""Text hygiene: characters XML 1.0 forbids, invisible format characters, Unicode
normalization and HTML sanitizing."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from contextvars import ContextVar
from urllib.parse import urljoin, urlsplit

import nh3
from pydantic_core import Url

from shared.html.limits import HtmlLimits, measure_html
from shared.net.addresses import IPNetwork, is_internal_host

# Everything outside XML 1.0's Char production (C0 controls except tab/LF/CR, lone
# surrogates, U+FFFE/U+FFFF), one of which makes a whole feed invalid; and C1 controls,
# legal XML but never intended in news text. One class, so text is scanned once.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# Unicode format (Cf) characters are invisible: bidi controls can reorder what a reader sees
# (a headline that reads differently than it sorts or matches), and soft hyphens, word
# joiners and BOMs hide inside words. Kept: ZWNJ and ZWJ, which scripts and emoji sequences
# need, and the tag characters of subdivision flags (🏴 England).
_FORMAT = re.compile(
    "[\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b\u200e\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001]"
)

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


# Both at once, for plain text: one pass over every title, summary, tag and name.
_NOT_TEXT = re.compile(f"{_FORBIDDEN.pattern}|{_FORMAT.pattern}")


def clean_text(value: str) -> str:
    """Return plain text NFC-normalized, without XML-forbidden characters, C1 controls or
    invisible format characters (bidi controls, soft hyphens, BOMs; ZWJ and ZWNJ stay)."""
    # Strip first: a removed character can separate a base from its combining mark.
    return unicodedata.normalize("NFC", _NOT_TEXT.sub("", value))


def _clean_markup(value: str) -> str:
    # Markup keeps format characters: a soft hyphen is a legitimate hint in running text.
    return unicodedata.normalize("NFC", _FORBIDDEN.sub("", value))


# The article a body belongs to, while one is being cleaned: the cleaner is made once.
_BASE_URL: ContextVar[str | None] = ContextVar("base_url", default=None)
# The networks images may come from although not public (tests), likewise.
_ALLOW_NETWORKS: ContextVar[Sequence[IPNetwork]] = ContextVar("allow_networks", default=())


def _resolve_relative(url: str) -> str:
    base = _BASE_URL.get()
    return urljoin(base, url) if base else url


# One policy for every URL-bearing attribute: web pages only, and mail for links.
_URL_SCHEMES = {
    ("a", "href"): {"http", "https", "mailto"},
    ("img", "src"): {"http", "https"},
    ("blockquote", "cite"): {"http", "https"},
    ("q", "cite"): {"http", "https"},
}


def _url_policy(tag: str, attribute: str, value: str) -> str | None:
    schemes = _URL_SCHEMES.get((tag, attribute))
    if schemes is None:
        return value
    # The sanitizer resolves href and src itself but knows nothing of cite.
    url = _resolve_relative(value.strip())
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    if tag == "img" and _internal_image(url):
        return None
    if scheme in schemes or (not scheme and _BASE_URL.get() is None):
        return url  # without an article URL a relative one stays relative
    return None


def _internal_image(url: str) -> bool:
    """Whether an image source points inside a network: a reader's browser loads it on
    sight, from the reader's own network (a router, a printer, a metadata service)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return True
    if not parts.netloc and not parts.scheme:
        return False  # relative (only without an article URL): on the page's own host
    try:
        # Read as browsers read it (IDNA, percent-decoding, every IPv4 spelling).
        host = Url(url if parts.scheme else f"http:{url}").host
    except ValueError:
        return True  # unparsable: no browser loads it either
    return host is None or is_internal_host(host, _ALLOW_NETWORKS.get())


_CLEANER = nh3.Cleaner(
    tags=_ALLOWED_TAGS,
    attributes=_ALLOWED_ATTRIBUTES,
    url_schemes={"http", "https", "mailto"},
    url_relative=_resolve_relative,
    attribute_filter=_url_policy,
    link_rel="noopener noreferrer",
)


def sanitize_html(
    value: str,
    base_url: str | None = None,
    limits: HtmlLimits | None = None,
    allow_networks: Sequence[IPNetwork] = (),
) -> str:
    """Return `value` reduced to an allow-list of tags and attributes, safe to embed anywhere.

    With `base_url`, relative links, image sources and quote sources become absolute: a feed
    reader would resolve them against the feed's host, not the article's. An image whose
    source points inside a network (`is_internal_host`; `allow_networks` excepted) loses
    its source.

    Raises:
        HtmlTooComplex: with `limits`, the markup nests too deep, has too many elements or an
            element with too many attributes; checked before the sanitizer parses it.
    """
    markup = _clean_markup(value)
    if limits is not None:
        measure_html(markup, limits)
    token, allowed = _BASE_URL.set(base_url), _ALLOW_NETWORKS.set(allow_networks)
    try:
        html = _CLEANER.clean(markup)
    finally:
        _BASE_URL.reset(token)
        _ALLOW_NETWORKS.reset(allowed)
    if "&#" not in value:
        return html  # clean_text removed every forbidden character already
    # Character references ("&#x1b;") decode to forbidden characters inside nh3. Replace them
    # with a space rather than delete: deleting could join "java&#1;script:" into a live scheme.
    return _FORBIDDEN.sub(" ", html)
