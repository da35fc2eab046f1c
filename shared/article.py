"""The Article model of ingest API v1: validation, normalization and derived slugs."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.html.limits import HtmlLimits, HtmlTooComplex
from shared.html.sanitize import clean_text, sanitize_html
from shared.language.slugs import slugify
from shared.net.addresses import IPNetwork, is_internal_host

# Any article id that may be stored: ids written before the rule against a leading dot
# (".", "..", hidden-file names) still match, so they stay readable and can be taken down.
ARTICLE_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
# What a write may name an article: no leading dot.
NEW_ARTICLE_ID_PATTERN = r"^[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,127}$"
_BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
MAX_BODY_BYTES = 1024 * 1024
# Dates outside these bounds are typos or attacks: a far-future updated_at would make every
# later update `stale`, and year 1 cannot be written as an RFC 822 date. An embargo (a
# future published_at) may be at most a year ahead.
EARLIEST_DATE = datetime(1990, 1, 1, tzinfo=UTC)
LATEST_AHEAD = timedelta(days=365)
# The widest UTC offsets in use (Kiribati +14:00, Baker Island -12:00).
MAX_OFFSET = timedelta(hours=14)
# An ISO 8601 date and time; the rest of it the datetime parser checks.
_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]")
# A URL's scheme, "//" and the first character of its host: URL parsers read "http:x" and
# "http:///x" as http://x/, a host the sender never wrote.
_WITH_HOST = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#\\]")
_URL_PADDING = "".join(map(chr, range(0x21)))  # what URL parsers strip around a URL


def ingest_context(
    default_language: str,
    now: datetime,
    html_limits: HtmlLimits | None = None,
    allow_networks: Sequence[IPNetwork] = (),
) -> dict[str, Any]:
    """The validation context of an incoming article: `now` from the caller's clock bounds
    its dates, `html_limits` its body; images may come from `allow_networks` although they
    are not public (tests and local trials)."""
    return {
        "default_language": default_language,
        "now": now,
        "html_limits": html_limits,
        "allow_networks": tuple(allow_networks),
    }


def _at_ingest(info: ValidationInfo) -> bool:
    """Rules on what a publisher may send apply at ingest, whose context carries a clock:
    stored articles, and those tools write directly, are not judged again."""
    return (info.context or {}).get("now") is not None


def _plain(value: str) -> str:
    return clean_text(value).strip()


def _with_host(value: Any) -> Any:
    if isinstance(value, str) and not _WITH_HOST.match(value.strip(_URL_PADDING)):
        raise ValueError("must be an absolute http(s) URL with a host, e.g. https://example.com/a")
    return value


def _iso_8601(value: Any) -> Any:
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE_TIME.match(value):
        return value
    # Numbers (and numeric strings) would be read as Unix time: seconds or milliseconds?
    raise ValueError(
        "must be an ISO 8601 date and time with an offset, e.g. 2026-01-18T11:42:00+03:00"
    )


PlainText = Annotated[str, AfterValidator(_plain)]
Url = Annotated[HttpUrl, BeforeValidator(_with_host), Field(max_length=2048)]
Moment = Annotated[AwareDatetime, BeforeValidator(_iso_8601)]
# The schema shows what a write may use; stored ids are read with the wider pattern.
ArticleId = Annotated[
    str, Field(pattern=ARTICLE_ID_PATTERN, json_schema_extra={"pattern": NEW_ARTICLE_ID_PATTERN})
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Author(_Strict):
    name: Annotated[PlainText, Field(max_length=200)]
    url: Url | None = None

    @field_validator("name")
    @classmethod
    def _has_slug(cls, name: str) -> str:
        return _require_slug(name)


class Image(_Strict):
    url: Url
    alt: Annotated[PlainText, Field(max_length=500)] = ""
    caption: Annotated[PlainText, Field(max_length=1000)] = ""
    credit: Annotated[PlainText, Field(max_length=200)] = ""

    @field_validator("url")
    @classmethod
    def _public(cls, url: HttpUrl, info: ValidationInfo) -> HttpUrl:
        # Feeds and pages hand it to every reader, whose browser would fetch it from inside
        # the reader's own network.
        if _at_ingest(info) and is_internal_host(url.host or "", _allow_networks(info)):
            raise ValueError(
                "must not point inside a network (loopback, private, link-local or metadata "
                "address, localhost or an internal name): give the image's public URL"
            )
        return url


class Article(_Strict):
    """A news article as a newsroom pushes it; text fields arrive cleaned and sanitized."""

    id: ArticleId
    url: Url
    title: Annotated[PlainText, Field(min_length=1, max_length=300)]
    summary: Annotated[PlainText, Field(max_length=1000)] = ""
    body_html: str = ""
    section: Annotated[PlainText, Field(min_length=1, max_length=100)]
    tags: Annotated[list[Annotated[PlainText, Field(max_length=100)]], Field(max_length=50)] = []
    authors: Annotated[list[Author], Field(max_length=20)] = []
    # Validated even when absent, so the context's default language fills it.
    language: Annotated[str | None, Field(validate_default=True)] = None
    published_at: Moment
    updated_at: Moment | None = None
    image: Image | None = None
    comments_url: Url | None = None
    related: Annotated[list[ArticleId], Field(max_length=100)] = []
    # Copyright and usage terms, shown in feeds (dc:rights, Atom rights). Left out of the
    # stored document when absent, so articles stored before it keep their digest.
    rights: Annotated[
        Annotated[PlainText, Field(max_length=1000)] | None,
        Field(exclude_if=lambda value: value is None),
    ] = None

    @field_validator("id")
    @classmethod
    def _no_leading_dot(cls, article_id: str, info: ValidationInfo) -> str:
        # "." and ".." are path segments, and a leading dot hides a file: ids name cards.
        if _at_ingest(info) and article_id.startswith("."):
            raise ValueError("must not start with a dot: begin with a letter, digit, _, : or -")
        return article_id

    @field_validator("related")
    @classmethod
    def _related_without_leading_dot(cls, ids: list[str], info: ValidationInfo) -> list[str]:
        if _at_ingest(info) and any(article_id.startswith(".") for article_id in ids):
            raise ValueError("ids must not start with a dot")
        return ids

    @field_validator("body_html")
    @classmethod
    def _sanitize_body(cls, body: str, info: ValidationInfo) -> str:
        if (info.context or {}).get("stored"):
            return body  # sanitized when it was ingested
        if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
            raise ValueError(f"body_html is larger than {MAX_BODY_BYTES} bytes")
        url = info.data.get("url")  # validated before the body: relative links resolve on it
        limits = (info.context or {}).get("html_limits") or HtmlLimits()
        try:
            return sanitize_html(body, str(url) if url else None, limits, _allow_networks(info))
        except HtmlTooComplex as exc:
            raise ValueError(f"body_html is too complex: {exc}") from None

    @field_validator("section")
    @classmethod
    def _section_has_slug(cls, section: str) -> str:
        return _require_slug(section)

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: list[str]) -> list[str]:
        unique: dict[str, str] = {}
        for tag in tags:
            unique.setdefault(slugify(_require_slug(tag)), tag)
        return list(unique.values())

    @field_validator("language")
    @classmethod
    def _language(cls, language: str | None, info: ValidationInfo) -> str | None:
        if language is None:
            return (info.context or {}).get("default_language")
        if not _BCP47.match(language):
            raise ValueError("language must be a BCP 47 tag such as 'tr' or 'tr-TR'")
        return language

    @field_validator("published_at", "updated_at")
    @classmethod
    def _within_bounds(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        now = (info.context or {}).get("now")
        if value is None or now is None:
            return value  # bounds are an ingest rule: stored articles are not re-judged
        if value < EARLIEST_DATE:
            raise ValueError(f"must not be earlier than {EARLIEST_DATE.date().isoformat()}")
        latest = now + LATEST_AHEAD
        if value > latest:
            raise ValueError(f"must not be later than {latest.isoformat(timespec='seconds')}")
        offset = value.utcoffset() or timedelta(0)
        if abs(offset) > MAX_OFFSET:
            minutes = int(abs(offset).total_seconds()) // 60
            shown = f"{'-' if offset < timedelta(0) else '+'}{minutes // 60:02d}:{minutes % 60:02d}"
            raise ValueError(
                f"its UTC offset {shown} is not one in use: give one from -14:00 to +14:00 "
                "(Europe/Istanbul is +03:00)"
            )
        return value

    @field_validator("updated_at")
    @classmethod
    def _updated_not_before_published(
        cls, updated: datetime | None, info: ValidationInfo
    ) -> datetime | None:
        published = info.data.get("published_at")
        if updated is not None and published is not None and updated < published:
            raise ValueError("must not be earlier than published_at")
        return updated

    @model_validator(mode="after")
    def _updated_defaults_to_published(self) -> Self:
        if self.updated_at is None:
            object.__setattr__(self, "updated_at", self.published_at)
        return self

    @property
    def modified(self) -> datetime:
        """`updated_at`, which validation always fills."""
        return self.updated_at or self.published_at

    @property
    def section_slug(self) -> str:
        return slugify(self.section)

    def serialized(self) -> tuple[str, str]:
        """The stored JSON document and its digest: equal digests mean nothing changed."""
        return self._document, self.digest

    @cached_property
    def _document(self) -> str:
        return self.model_dump_json()

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the stored document."""
        return hashlib.sha256(self._document.encode()).hexdigest()


def _allow_networks(info: ValidationInfo) -> Sequence[IPNetwork]:
    return (info.context or {}).get("allow_networks", ())


def _require_slug(name: str) -> str:
    if not slugify(name):
        raise ValueError("must contain at least one letter or digit")
    return name
