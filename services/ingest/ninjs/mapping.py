"""A ninjs document (1.x, 2.x or 3.x, Superdesk's flavour too) as our article.

`article_from_ninjs` gives the dict the Article model validates; `map_ninjs` also says which
ninjs path each article field came from, so that an error names what the sender wrote.

The id: the document's `uri` (or Superdesk's `guid`) without an http(s) scheme, every run of
characters an id may not hold (anything but letters, digits and `._:-`) made one `-`, leading
dots and dashes and trailing dashes dropped: `http://ninjs.example.com/newsitems/x1` →
`ninjs.example.com-newsitems-x1`, `urn:newsml:dpa.com:20090101:190510-99-167362` unchanged.
When that leaves nothing or more than 128 characters, or when the uri holds letters outside
ASCII (`ç`, `ı`: they would all become `-`), `ninjs-` and the first 32 hex digits of the
uri's SHA-256. The same uri always gives the same id, so every version of a document updates
one article.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.article import NEW_ARTICLE_ID_PATTERN

MAX_ID = 128
MAX_SUMMARY = 1000
MAX_TAGS = 50
MAX_AUTHORS = 20
# When nothing in the document names a section.
FALLBACK_SECTION = "news"
_NOT_ID = re.compile(r"[^A-Za-z0-9._:-]+")
_ID = re.compile(NEW_ARTICLE_ID_PATTERN)
_TAG = re.compile(r"<[^>]*>")
_DOCUMENT_BODY = re.compile(r"<body\b[^>]*>(.*)</body\s*>", re.DOTALL | re.IGNORECASE)
_AUTHOR_ROLES = frozenset({"author", "creator", "writer", "byline", "by"})
_HTML_TYPES = ("html", "xhtml", "xml")
_RETRACTING = frozenset({"canceled", "withheld"})


class NinjsUnmappable(ValueError):
    """A valid ninjs document that cannot be an article (no headline, a date without an
    offset …); `fields` name the ninjs paths."""

    def __init__(self, message: str, fields: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.fields = fields


@dataclass(frozen=True)
class NinjsOptions:
    """How documents map: `section_scheme` picks the section (see `_section`); `site_url`
    gives articles whose uri is no web address a url under the site."""

    section_scheme: str = ""
    site_url: str | None = None


@dataclass
class Mapped:
    article: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)  # article field → ninjs path
    retracts: bool = False


def article_from_ninjs(
    document: dict[str, Any], *, received_at: datetime, options: NinjsOptions | None = None
) -> dict[str, Any]:
    """The article dict for a (schema-valid) ninjs document; dates absent from it are
    `received_at`.

    Raises:
        NinjsUnmappable: naming the ninjs path that cannot be mapped.
    """
    return map_ninjs(document, received_at=received_at, options=options).article


def ninjs_id(document: dict[str, Any]) -> str:
    """The article id of the document (see the module's docstring).

    Raises:
        NinjsUnmappable: it has neither `uri` nor `guid`.
    """
    uri = _text(document, "uri") or _text(document, "guid")
    if not uri:
        raise NinjsUnmappable("no uri", [{"field": "uri", "message": "give the item's uri"}])
    slug = _NOT_ID.sub("-", re.sub(r"^https?://", "", uri, flags=re.IGNORECASE))
    slug = slug.lstrip(".-").rstrip("-")
    # Letters an id cannot hold (ı, ç, …) would all become one "-": those uris get the hash.
    foreign = any(ch.isalnum() and not ch.isascii() for ch in uri)
    if foreign or not slug or len(slug) > MAX_ID or not _ID.fullmatch(slug):
        return "ninjs-" + hashlib.sha256(uri.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return slug


def retracts(document: dict[str, Any]) -> bool:
    """Whether the document takes its article down (`pubstatus` canceled or withheld)."""
    status = _first_of(document, "pubstatus", "pubStatus")
    return isinstance(status, str) and status.lower() in _RETRACTING


def map_ninjs(
    document: dict[str, Any], *, received_at: datetime, options: NinjsOptions | None = None
) -> Mapped:
    options = options or NinjsOptions()
    mapped = Mapped(article={}, retracts=retracts(document))
    article, sources = mapped.article, mapped.sources
    article["id"] = ninjs_id(document)
    sources["id"] = "uri" if "uri" in document else "guid"
    article["url"] = _url(document, article["id"], options)
    sources["url"] = "uri"
    title, sources["title"] = _headline(document)
    article["title"] = title
    summary, sources["summary"] = _summary(document)
    article["summary"] = summary
    body, sources["body_html"] = _body(document)
    article["body_html"] = body
    section, sources["section"], tags, sources["tags"] = _section_and_tags(document, options)
    article["section"], article["tags"] = section, tags
    article["authors"], sources["authors"] = _authors(document)
    if isinstance(document.get("language"), str):
        article["language"], sources["language"] = document["language"], "language"
    _dates(document, received_at, article, sources)
    rights, sources["rights"] = _rights(document)
    if rights:
        article["rights"] = rights
    image = _image(document)
    if image is not None:
        article["image"], sources["image"] = image
    return mapped


def source_field(sources: dict[str, str], article_field: str) -> str:
    """The ninjs path an article field's error names (`authors.0.name` → `by`)."""
    top = article_field.split(".", 1)[0]
    return sources.get(article_field) or sources.get(top) or article_field


# -- fields ---------------------------------------------------------------------------------


def _url(document: dict[str, Any], article_id: str, options: NinjsOptions) -> str:
    uri = _text(document, "uri") or _text(document, "guid")
    if re.match(r"https?://[^/?#\\]", uri, flags=re.IGNORECASE):
        return uri
    if options.site_url is None:
        raise NinjsUnmappable(
            "no web address",
            [{"field": "uri", "message": "give an http(s) uri: it is the article's address"}],
        )
    return f"{options.site_url.rstrip('/')}/{article_id}"


def _headline(document: dict[str, Any]) -> tuple[str, str]:
    headlines = _list(document, "headlines")
    for index, headline in enumerate(headlines):
        if headline.get("role") == "main" and _text(headline, "value"):
            return _text(headline, "value"), f"headlines.{index}.value"
    for index, headline in enumerate(headlines):
        if _text(headline, "value"):
            return _text(headline, "value"), f"headlines.{index}.value"
    for key in ("headline", "headline_main", "title", "slugline"):
        if _text(document, key):
            return _text(document, key), key
    raise NinjsUnmappable(
        "no headline", [{"field": "headlines", "message": "give a headline (role main)"}]
    )


def _summary(document: dict[str, Any]) -> tuple[str, str]:
    found = ("", "descriptions")
    for index, description in enumerate(_list(document, "descriptions")):
        value = _text(description, "value")
        if value:
            kind = str(_first_of(description, "contenttype", "contentType") or "")
            found = (_plain(value) if _is_markup(kind) else value, f"descriptions.{index}.value")
            break
    else:
        for key in ("description_text", "description_usage", "description_html"):
            if _text(document, key):
                value = _text(document, key)
                found = (_plain(value) if key.endswith("html") else value, key)
                break
    text, path = found
    return _shorten(text.strip(), MAX_SUMMARY), path


def _body(document: dict[str, Any]) -> tuple[str, str]:
    bodies = _list(document, "bodies")
    plain: tuple[str, str] | None = None
    for index, body in enumerate(bodies):
        value = _text(body, "value")
        if not value:
            continue
        kind = str(_first_of(body, "contenttype", "contentType") or "").lower()
        if _is_markup(kind) or body.get("role") in ("richtext", "html", "xhtml"):
            return _inner(value), f"bodies.{index}.value"
        plain = plain or (_paragraphs(value), f"bodies.{index}.value")
    for key in ("body_html", "body_xhtml", "body_richtext"):
        if _text(document, key):
            return _inner(_text(document, key)), key
    if plain:
        return plain
    for key in ("body_text", "body_main"):
        if _text(document, key):
            return _paragraphs(_text(document, key)), key
    return "", "bodies"


def _section_and_tags(
    document: dict[str, Any], options: NinjsOptions
) -> tuple[str, str, list[str], str]:
    """The section: the first concept the setting names, where `section_scheme` is
    `anpa_category` or `genre` (that key's first entry), or a prefix of a subject's uri or
    scheme (or its code, `literal`/`qcode`); unset, or when nothing matches, the first ANPA
    category, genre, then subject, else `news`. Every other concept's name is a tag, then
    `keywords`."""
    concepts: list[tuple[str, str, str]] = []  # (kind, name, its path), in document order
    identifiers: list[str] = []
    for kind, keys in (
        ("anpa_category", ("anpa_category",)),
        ("genre", ("genres", "genre")),
        ("subject", ("subjects", "subject")),
    ):
        for key in keys:
            for index, concept in enumerate(_list(document, key)):
                name = _text(concept, "name")
                if name:
                    concepts.append((kind, name, f"{key}.{index}.name"))
                    identifiers.append(
                        " ".join(
                            str(concept.get(part) or "")
                            for part in ("uri", "scheme", "literal", "code", "qcode")
                        )
                    )
    scheme = options.section_scheme.strip()
    chosen: int | None = None
    if scheme:
        for index, (kind, _, _) in enumerate(concepts):
            ids = identifiers[index].split()
            if kind == scheme or any(part.startswith(scheme) for part in ids):
                chosen = index
                break
    if chosen is None and concepts:
        chosen = 0
    if chosen is None:
        section, section_path = FALLBACK_SECTION, "subjects"
    else:
        section, section_path = concepts[chosen][1], concepts[chosen][2]
    tags = [name for index, (_, name, _) in enumerate(concepts) if index != chosen]
    tags += [k.strip() for k in document.get("keywords") or [] if isinstance(k, str) and k.strip()]
    return section, section_path, tags[:MAX_TAGS], "subjects"


def _authors(document: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    authors = []
    for key in ("people", "person", "authors"):  # Superdesk's `authors` carry a role too
        for person in _list(document, key):
            role = str(_first_of(person, "rel", "role") or "").lower()
            name = _text(person, "name")
            if name and (role in _AUTHOR_ROLES or role.endswith("author")):
                author: dict[str, Any] = {"name": name}
                uri = _text(person, "uri")
                if re.match(r"https?://", uri):
                    author["url"] = uri
                authors.append(author)
    if authors:
        return authors[:MAX_AUTHORS], "people"
    for key in ("by", "byline"):
        if _text(document, key):
            return [{"name": _text(document, key)}], key
    return [], "by"


def _rights(document: dict[str, Any]) -> tuple[str, str]:
    """The copyright notice (else `© holder`), then the usage terms, as one text."""
    notice = str(_first_of(document, "copyrightnotice", "copyrightNotice") or "").strip()
    holder = str(_first_of(document, "copyrightholder", "copyrightHolder") or "").strip()
    terms = str(_first_of(document, "usageterms", "usageTerms") or "").strip()
    if holder and holder not in notice:
        notice = f"{notice} © {holder}".strip() if notice else f"© {holder}"
    path = "copyrightnotice" if notice else "usageterms"
    return _shorten(" ".join(part for part in (notice, terms) if part), 1000), path


def _dates(
    document: dict[str, Any],
    received_at: datetime,
    article: dict[str, Any],
    sources: dict[str, str],
) -> None:
    first = _date(document, "firstcreated", "firstCreated")
    version = _date(document, "versioncreated", "versionCreated")
    embargo = _date(document, "embargoed", "embargoedUntil")
    published, sources["published_at"] = first or version or (received_at, "firstcreated")
    if embargo and embargo[0] > published:  # an embargo is a later published_at
        published, sources["published_at"] = embargo
    updated, sources["updated_at"] = version or (published, sources["published_at"])
    article["published_at"] = published.isoformat()
    article["updated_at"] = max(updated, published).isoformat()


def _date(document: dict[str, Any], *keys: str) -> tuple[datetime, str] | None:
    for key in keys:
        value = document.get(key)
        if value is None:
            continue
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            message = "must be an ISO 8601 date and time with an offset, e.g. 2026-01-18T11:42:00Z"
            raise NinjsUnmappable(f"invalid {key}", [{"field": key, "message": message}])
        return moment, key
    return None


def _image(document: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The feature picture's largest rendition: the association named `featuremedia`, else
    the first picture among the associations."""
    associations = document.get("associations")
    if isinstance(associations, dict):  # 1.x: keyed by name
        named = [(str(k), v, str(k)) for k, v in associations.items() if isinstance(v, dict)]
    else:
        named = [
            (str(a.get("name", "")), a, str(index))
            for index, a in enumerate(_list(document, "associations"))
        ]
    pictures = [item for item in named if item[0] == "featuremedia"] + [
        item for item in named if item[1].get("type") in ("picture", "image")
    ]
    for _, association, key in pictures:
        rendition = _largest(association.get("renditions"))
        if rendition is None:
            continue
        href, path = rendition
        caption = _summary(association)[0]
        image = {
            "url": href,
            "alt": _shorten(_first_headline(association) or caption, 500),
            "caption": _shorten(caption, 1000),
            "credit": _shorten(
                _text(association, "by")
                or _text(association, "byline")
                or str(_first_of(association, "copyrightholder", "copyrightHolder") or ""),
                200,
            ),
        }
        return image, f"associations.{key}.renditions.{path}.href"
    return None


def _first_headline(document: dict[str, Any]) -> str:
    try:
        return _headline(document)[0]
    except NinjsUnmappable:
        return ""


def _largest(renditions: Any) -> tuple[str, str] | None:
    if isinstance(renditions, dict):
        items = [(str(k), v) for k, v in renditions.items() if isinstance(v, dict)]
    elif isinstance(renditions, list):
        items = [(str(i), v) for i, v in enumerate(renditions) if isinstance(v, dict)]
    else:
        return None
    best: tuple[int, str, str] | None = None
    for path, rendition in items:
        href = _text(rendition, "href")
        if not href:
            continue
        width, height = rendition.get("width"), rendition.get("height")
        area = width * height if isinstance(width, int) and isinstance(height, int) else 0
        if best is None or area > best[0]:
            best = (area, href, path)
    return (best[1], best[2]) if best else None


# -- helpers --------------------------------------------------------------------------------


def _text(node: dict[str, Any], key: str) -> str:
    value = node.get(key)
    return value.strip() if isinstance(value, str) else ""


def _list(node: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = node.get(key)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _first_of(node: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in node:
            return node[key]
    return None


def _is_markup(content_type: str) -> bool:
    return any(kind in content_type.lower() for kind in _HTML_TYPES)


def _inner(markup: str) -> str:
    """A whole HTML document's body (its head's title would otherwise read as text)."""
    found = _DOCUMENT_BODY.search(markup) if "<body" in markup.lower() else None
    return found[1].strip() if found else markup


def _plain(markup: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", markup)).split())


def _paragraphs(text: str) -> str:
    """Plain text as HTML paragraphs, one a line."""
    lines = [line.strip() for line in text.splitlines()]
    return "\n".join(f"<p>{html.escape(line, quote=False)}</p>" for line in lines if line)


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] or text[: limit - 1]
    return cut + "…"
