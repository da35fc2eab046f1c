"""The Article model of ingest API v1: validation, normalization and derived slugs."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
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

ARTICLE_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
_BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
MAX_BODY_BYTES = 1024 * 1024
# Dates outside these bounds are typos or attacks: a far-future updated_at would make every
# later update `stale`, and year 1 cannot be written as an RFC 822 date. An embargo (a
# future published_at) may be at most a year ahead.
EARLIEST_DATE = datetime(1990, 1, 1, tzinfo=UTC)
LATEST_AHEAD = timedelta(days=365)


def ingest_context(
    default_language: str, now: datetime, html_limits: HtmlLimits | None = None
) -> dict[str, Any]:
    """The validation context of an incoming article: `now` from the caller's clock bounds
    its dates, `html_limits` its body."""
    return {"default_language": default_language, "now": now, "html_limits": html_limits}


def _plain(value: str) -> str:
    return clean_text(value).strip()


PlainText = Annotated[str, AfterValidator(_plain)]
Url = Annotated[HttpUrl, Field(max_length=2048)]


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


class Article(_Strict):
    """A news article as a newsroom pushes it; text fields arrive cleaned and sanitized."""

    id: Annotated[str, Field(pattern=ARTICLE_ID_PATTERN)]
    url: Url
    title: Annotated[PlainText, Field(min_length=1, max_length=300)]
    summary: Annotated[PlainText, Field(max_length=1000)] = ""
    body_html: str = ""
    section: Annotated[PlainText, Field(min_length=1, max_length=100)]
    tags: Annotated[list[Annotated[PlainText, Field(max_length=100)]], Field(max_length=50)] = []
    authors: Annotated[list[Author], Field(max_length=20)] = []
    # Validated even when absent, so the context's default language fills it.
    language: Annotated[str | None, Field(validate_default=True)] = None
    published_at: AwareDatetime
    updated_at: AwareDatetime | None = None
    image: Image | None = None
    comments_url: Url | None = None
    related: Annotated[
        list[Annotated[str, Field(pattern=ARTICLE_ID_PATTERN)]], Field(max_length=100)
    ] = []

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
            return sanitize_html(body, str(url) if url else None, limits)
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


def _require_slug(name: str) -> str:
    if not slugify(name):
        raise ValueError("must contain at least one letter or digit")
    return name
