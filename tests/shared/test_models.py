"""The Article model: validation rules of ingest API v1 and its normalization."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import lxml.etree
import pydantic
import pytest

from shared.models import MAX_BODY_BYTES, Article

CONTEXT = {"default_language": "tr"}
ISTANBUL = timezone(timedelta(hours=3))
XML_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def raw_article(**overrides: Any) -> dict[str, Any]:
    """The smallest valid article, with `overrides` applied."""
    raw: dict[str, Any] = {
        "id": "dunya-2026-01-18-test",
        "url": "https://haber.example.com.tr/dunya/test",
        "title": "Rusya'dan flaş çıkış: Şansımız var",
        "section": "Dünya",
        "published_at": "2026-01-18T11:42:00+03:00",
    }
    raw.update(overrides)
    return {k: v for k, v in raw.items() if v is not None}


def validate(raw: dict[str, Any]) -> Article:
    return Article.model_validate(raw, context=CONTEXT)


def error_locations(raw: dict[str, Any]) -> list[tuple[Any, ...]]:
    with pytest.raises(pydantic.ValidationError) as caught:
        validate(raw)
    return [error["loc"] for error in caught.value.errors()]


def test_corpus_articles_validate(corpus: list[dict[str, Any]]) -> None:
    assert corpus
    for raw in corpus:
        article = validate(raw)
        assert article.id == raw["id"]
        assert article.title == raw["title"]
        assert article.published_at.utcoffset() == timedelta(hours=3)


def test_seed_article_keeps_its_fields(seed_article: dict[str, Any]) -> None:
    article = validate(seed_article)
    assert article.section_slug == "dunya"
    assert article.tags == ["Rusya", "Sergey Lavrov", "NATO", "AGİT"]
    assert [a.name for a in article.authors] == ["Dış Haberler Servisi"]
    assert article.related
    assert str(article.comments_url).startswith("https://")


def test_naive_datetime_is_rejected_at_published_at() -> None:
    assert error_locations(raw_article(published_at="2026-01-18T11:42:00")) == [("published_at",)]


def test_naive_updated_at_is_rejected_at_updated_at() -> None:
    assert error_locations(raw_article(updated_at="2026-01-18T12:00:00")) == [("updated_at",)]


def test_updated_before_published_is_rejected() -> None:
    raw = raw_article(updated_at="2026-01-18T11:41:59+03:00")
    assert error_locations(raw) == [("updated_at",)]


def test_updated_at_compares_instants_not_wall_clocks() -> None:
    # 09:00Z is 12:00+03:00: later than publication although its wall clock reads earlier.
    article = validate(raw_article(updated_at="2026-01-18T09:00:00Z"))
    assert article.updated_at == datetime(2026, 1, 18, 12, 0, tzinfo=ISTANBUL)


def test_updated_at_defaults_to_published_at() -> None:
    article = validate(raw_article())
    assert article.updated_at == article.published_at
    assert article.modified == datetime(2026, 1, 18, 11, 42, tzinfo=ISTANBUL)


def test_equal_updated_at_is_allowed() -> None:
    article = validate(raw_article(updated_at="2026-01-18T08:42:00+00:00"))
    assert article.updated_at == article.published_at


@pytest.mark.parametrize("title", ["", "   ", "\x00\x1b"])
def test_empty_title_is_rejected(title: str) -> None:
    assert error_locations(raw_article(title=title)) == [("title",)]


def test_title_length_limit_is_300() -> None:
    assert len(validate(raw_article(title="ş" * 300)).title) == 300
    assert error_locations(raw_article(title="ş" * 301)) == [("title",)]


def test_tags_over_50_are_rejected() -> None:
    assert len(validate(raw_article(tags=[f"etiket {i}" for i in range(50)])).tags) == 50
    assert error_locations(raw_article(tags=[f"etiket {i}" for i in range(51)])) == [("tags",)]


def test_tags_are_deduplicated_by_slug_keeping_the_first_spelling() -> None:
    article = validate(raw_article(tags=["İstanbul", "istanbul", "ISTANBUL", "NATO", "nato"]))
    assert article.tags == ["İstanbul", "NATO"]


def test_tag_without_letters_is_rejected() -> None:
    assert error_locations(raw_article(tags=["Rusya", "!!!"])) == [("tags",)]


def test_section_without_letters_is_rejected() -> None:
    assert error_locations(raw_article(section="---")) == [("section",)]


def test_body_over_one_megabyte_is_rejected() -> None:
    assert validate(raw_article(body_html="a" * (MAX_BODY_BYTES - 7) + "<p></p>")).body_html
    assert error_locations(raw_article(body_html="a" * MAX_BODY_BYTES + "<p></p>")) == [
        ("body_html",)
    ]


def test_body_limit_counts_bytes_not_characters() -> None:
    # "ş" is two bytes in UTF-8: 600,000 of them are 1.2 MB.
    assert error_locations(raw_article(body_html="ş" * 600_000)) == [("body_html",)]


def test_body_is_sanitized() -> None:
    article = validate(raw_article(body_html="<p onclick='x()'>a</p><script>b()</script>"))
    assert article.body_html == "<p>a</p>"


def test_unknown_field_is_rejected() -> None:
    assert error_locations(raw_article(priority="high")) == [("priority",)]


def test_unknown_nested_field_is_rejected() -> None:
    locations = error_locations(raw_article(authors=[{"name": "A", "email": "a@e.com"}]))
    assert locations == [("authors", 0, "email")]


@pytest.mark.parametrize("article_id", ["", "a b", "a/b", "ş", "x" * 129, "id?", "../etc", "a\nb"])
def test_bad_id_is_rejected(article_id: str) -> None:
    assert error_locations(raw_article(id=article_id)) == [("id",)]


@pytest.mark.parametrize("article_id", ["a", "A.b_c:d-1", "x" * 128])
def test_good_id_is_accepted(article_id: str) -> None:
    assert validate(raw_article(id=article_id)).id == article_id


def test_language_defaults_from_validation_context() -> None:
    for language in ("tr", "en"):
        article = Article.model_validate(raw_article(), context={"default_language": language})
        assert article.language == language


def test_explicit_language_wins_over_context() -> None:
    assert validate(raw_article(language="en-GB")).language == "en-GB"


def test_bad_language_is_rejected() -> None:
    assert error_locations(raw_article(language="not a tag!")) == [("language",)]


@pytest.mark.parametrize("url", ["ftp://e.com/a", "/relative/path", "javascript:alert(1)"])
def test_non_http_url_is_rejected(url: str) -> None:
    assert error_locations(raw_article(url=url)) == [("url",)]


def test_hostile_title_ends_up_xml_safe() -> None:
    article = validate(
        raw_article(
            title="<script>alert(1)</script>\x00Rusya\x1b'dan\x85 flaş\ufffe çıkış\ud800",
            summary="Özet\x0b metni\x9f",
            tags=["Rus\x00ya"],
            authors=[{"name": "Muhabir\x1b Adı"}],
        )
    )
    for text in (article.title, article.summary, *article.tags, article.authors[0].name):
        assert not XML_FORBIDDEN.search(text)
        assert not re.search("[\x7f-\x9f]", text)
        text.encode("utf-8")
    # The title is plain text: markup stays literal and is escaped wherever it is embedded.
    assert article.title == "<script>alert(1)</script>Rusya'dan flaş çıkış"
    element = lxml.etree.Element("title")
    element.text = article.title
    parsed = lxml.etree.fromstring(lxml.etree.tostring(element))
    assert parsed.text == article.title
    assert len(parsed) == 0
    assert article.tags == ["Rusya"]


def test_text_fields_are_nfc_normalized() -> None:
    article = validate(raw_article(title="Du\u0308nya haberleri", section="Du\u0308nya"))
    assert article.title == "Dünya haberleri"
    assert article.section == "Dünya"
    assert article.section_slug == "dunya"


def test_digest_is_stable_for_equal_content() -> None:
    first = validate(raw_article(tags=["Rusya", "NATO"]))
    second = validate(raw_article(tags=["Rusya", "NATO"]))
    assert first is not second
    assert first.serialized()[1] == second.serialized()[1]
    assert re.fullmatch("[0-9a-f]{64}", first.serialized()[1])


def test_digest_ignores_how_the_same_content_was_spelled() -> None:
    # Defaults filled in, duplicates merged and controls stripped leave the same article.
    plain = validate(raw_article(tags=["Rusya"]))
    spelled = validate(
        raw_article(
            tags=["Rusya", "rusya"],
            title="Rusya'dan flaş çıkış: Şansımız var\x00",
            updated_at="2026-01-18T11:42:00+03:00",
            language="tr",
        )
    )
    assert plain.serialized()[1] == spelled.serialized()[1]


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Rusya'dan flaş çıkış: Şansımız yok"},
        {"summary": "Yeni özet"},
        {"body_html": "<p>Yeni</p>"},
        {"tags": ["NATO"]},
        {"updated_at": "2026-01-18T12:00:00+03:00"},
        {"section": "Gündem"},
        {"language": "en"},
        {"image": {"url": "https://e.com/a.jpg"}},
    ],
)
def test_digest_changes_with_content(change: dict[str, Any]) -> None:
    assert (
        validate(raw_article(**change)).serialized()[1] != validate(raw_article()).serialized()[1]
    )


def test_article_is_immutable() -> None:
    article = validate(raw_article())
    with pytest.raises(pydantic.ValidationError):
        article.title = "başka"  # type: ignore[misc]


def test_json_round_trip_keeps_the_article() -> None:
    article = validate(raw_article(tags=["Rusya"], body_html="<p>a</p>"))
    again = Article.model_validate_json(article.model_dump_json())
    assert again == article
    assert again.serialized()[1] == article.serialized()[1]


def test_published_at_keeps_its_offset() -> None:
    article = validate(raw_article())
    assert article.published_at.astimezone(UTC) == datetime(2026, 1, 18, 8, 42, tzinfo=UTC)
