"""The Article model: validation rules of ingest API v1 and its normalization."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import lxml.etree
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.article import MAX_BODY_BYTES, Article, ingest_context
from shared.html.limits import HtmlLimits

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


# Date bounds: an ingest rule, judged against the `now` the caller's clock puts in the context.
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def validate_at(now: datetime, **overrides: Any) -> Article:
    return Article.model_validate(raw_article(**overrides), context={**CONTEXT, "now": now})


def bound_errors(now: datetime, **overrides: Any) -> list[tuple[Any, ...]]:
    with pytest.raises(pydantic.ValidationError) as caught:
        validate_at(now, **overrides)
    return [error["loc"] for error in caught.value.errors()]


@pytest.mark.parametrize("field", ["published_at", "updated_at"])
def test_dates_from_1990_on_are_accepted_and_a_day_earlier_refused(field: str) -> None:
    first = "1990-01-01T00:00:00Z"
    day_before = "1989-12-31T00:00:00Z"
    dates = {"published_at": first, "updated_at": first}
    assert getattr(validate_at(NOW, **dates), field) == datetime(1990, 1, 1, tzinfo=UTC)
    assert bound_errors(NOW, **{**dates, field: day_before}) == [(field,)]


@pytest.mark.parametrize("field", ["published_at", "updated_at"])
def test_dates_up_to_a_year_ahead_are_accepted_and_a_day_later_refused(field: str) -> None:
    latest = NOW + timedelta(days=365)
    ahead = {"published_at": latest.isoformat(), "updated_at": latest.isoformat()}
    assert getattr(validate_at(NOW, **ahead), field) == latest
    past_it = {**ahead, field: (latest + timedelta(days=1)).isoformat()}
    assert bound_errors(NOW, **past_it) == [(field,)]
    # The bound moves with the clock: the same date is fine a day later.
    later = (latest + timedelta(days=1)).isoformat()
    assert validate_at(NOW + timedelta(days=1), published_at=later, updated_at=later)


def test_far_future_updated_at_names_the_field_and_says_why() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        validate_at(NOW, updated_at="9999-12-31T23:59:59Z")
    (error,) = caught.value.errors()
    assert error["loc"] == ("updated_at",)
    assert "must not be later than 2027-11-28" in error["msg"]


def test_without_a_clock_in_the_context_dates_are_not_bounded() -> None:
    # Stored articles and renderers validate without `now`: nothing is judged twice.
    assert validate(raw_article(published_at="1980-01-01T00:00:00Z")).published_at.year == 1980


def test_body_past_the_html_limits_is_refused_naming_body_html() -> None:
    limits = HtmlLimits(max_depth=8, max_elements=100, max_attributes=8)
    context = {**CONTEXT, "html_limits": limits}
    assert Article.model_validate(raw_article(body_html="<div>" * 8), context=context)
    with pytest.raises(pydantic.ValidationError) as caught:
        Article.model_validate(raw_article(body_html="<div>" * 9), context=context)
    (error,) = caught.value.errors()
    assert error["loc"] == ("body_html",)
    assert "deeper than 8" in error["msg"]


def test_the_default_html_limits_apply_without_a_context() -> None:
    assert error_locations(raw_article(body_html="<div>" * 65)) == [("body_html",)]


def test_invisible_format_characters_leave_every_plain_text_field() -> None:
    hidden = "\u202e\u200f\u2066\u00ad\u2060\ufeff\u200b\u061c"
    article = validate(
        raw_article(
            title=f"Baş{hidden}lık",
            summary=f"Öz{hidden}et",
            section=f"Dün{hidden}ya",
            tags=[f"Ru{hidden}sya"],
            authors=[{"name": f"Ayşe{hidden} Yıldırım"}],
            image={"url": "https://e.com/a.jpg", "alt": f"A{hidden}", "caption": f"C{hidden}"},
        )
    )
    assert (article.title, article.summary, article.section) == ("Başlık", "Özet", "Dünya")
    assert article.tags == ["Rusya"]
    assert article.authors[0].name == "Ayşe Yıldırım"
    assert article.image is not None
    assert (article.image.alt, article.image.caption) == ("A", "C")


def test_joiners_that_emoji_and_scripts_need_are_kept() -> None:
    family = "👨\u200d👩\u200d👧"
    persian = "می\u200cخواهم"
    article = validate(raw_article(title=f"{family} {persian}"))
    assert article.title == f"{family} {persian}"


# What a publisher may send, judged at ingest (the context has a clock): ids, offsets, date
# spellings, URLs with a host, images from outside any network.
AT_INGEST = ingest_context("tr", NOW, allow_networks=(ipaddress.ip_network("127.0.0.2/32"),))


def ingest_errors(**overrides: Any) -> list[tuple[Any, ...]]:
    """The locations of what ingest refuses in the article; [] when it accepts it."""
    try:
        Article.model_validate(raw_article(**overrides), context=AT_INGEST)
    except pydantic.ValidationError as exc:
        return [error["loc"] for error in exc.errors()]
    return []


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.integers(-(24 * 60 - 1), 24 * 60 - 1), st.sampled_from(["published_at", "updated_at"]))
def test_utc_offsets_up_to_14_hours_are_accepted_and_wider_ones_refused(minutes, field) -> None:
    sign, whole = ("-" if minutes < 0 else "+"), abs(minutes)
    moment = f"2026-01-18T11:42:00{sign}{whole // 60:02d}:{whole % 60:02d}"
    dates = {"published_at": "2026-01-16T00:00:00Z", "updated_at": "2026-01-20T00:00:00Z"}
    errors = ingest_errors(**{**dates, field: moment})
    assert errors == ([] if whole <= 14 * 60 else [(field,)]), moment


def test_a_refused_offset_says_which_are_in_use() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        Article.model_validate(
            raw_article(published_at="2026-01-18T11:42:00+23:59"), context=AT_INGEST
        )
    (error,) = caught.value.errors()
    assert "+23:59" in error["msg"] and "from -14:00 to +14:00" in error["msg"]


@pytest.mark.parametrize(
    "moment", [1768725720, 1768725720.5, 1768725720000, "1768725720", "1768725720.5", True]
)
@pytest.mark.parametrize("field", ["published_at", "updated_at"])
def test_dates_are_iso_8601_strings_never_numbers(moment: Any, field: str) -> None:
    assert error_locations(raw_article(**{field: moment})) == [(field,)]


def test_a_date_may_still_come_as_a_datetime_from_python() -> None:
    moment = datetime(2026, 1, 18, 11, 42, tzinfo=ISTANBUL)
    assert validate(raw_article(published_at=moment)).published_at == moment


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.from_regex(r"[A-Za-z0-9._:-]{1,128}", fullmatch=True))
def test_an_id_is_refused_at_ingest_exactly_when_it_starts_with_a_dot(article_id: str) -> None:
    refused = [("id",)] if article_id.startswith(".") else []
    assert ingest_errors(id=article_id) == refused
    assert ingest_errors(related=[article_id]) == [("related",) for _ in refused]


@pytest.mark.parametrize("article_id", [".", "..", ".gizli"])
def test_a_stored_id_with_a_leading_dot_is_still_read(article_id: str) -> None:
    # Written before the rule: it stays readable, so its owner can still take it down.
    stored = Article.model_validate(raw_article(id=article_id), context=CONTEXT).model_dump_json()
    assert Article.model_validate_json(stored, context={"stored": True}).id == article_id


@pytest.mark.parametrize(
    "url", ["http:x", "http:/x", "http:///x", "https:\\\\x", "http://", "http:"]
)
@pytest.mark.parametrize("field", ["url", "comments_url", "image", "authors"])
def test_a_url_without_a_host_is_refused_naming_its_field(url: str, field: str) -> None:
    value: Any = {
        "image": {"url": url},
        "authors": [{"name": "Ayşe Yıldırım", "url": url}],
    }.get(field, url)
    located = {"image": ("image", "url"), "authors": ("authors", 0, "url")}.get(field, (field,))
    assert error_locations(raw_article(**{field: value})) == [located]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/a.jpg", "http://localhost/a.jpg", "http://10.0.0.5/a.jpg",
        "http://169.254.169.254/latest/meta-data/", "http://[::1]/a.jpg",
        "http://0x7f000001/a.jpg", "http://１２７.０.０.１/a.jpg", "http://intranet/a.jpg",
        "http://metadata.google.internal/a.jpg",
    ],
)  # fmt: skip
def test_an_image_from_inside_a_network_is_refused_at_ingest(url: str) -> None:
    assert ingest_errors(image={"url": url}) == [("image", "url")]


def test_an_image_from_an_allowed_network_is_accepted() -> None:
    assert ingest_errors(image={"url": "http://127.0.0.2:8080/a.jpg"}) == []
    assert ingest_errors(image={"url": "https://img.example.com.tr/a.jpg"}) == []


def test_a_body_image_from_inside_a_network_loses_its_source_at_ingest() -> None:
    body = '<p><img src="http://10.0.0.5/a.jpg" alt="iç"><img src="http://127.0.0.2/b.jpg"></p>'
    article = Article.model_validate(raw_article(body_html=body), context=AT_INGEST)
    assert article.body_html == '<p><img alt="iç"><img src="http://127.0.0.2/b.jpg"></p>'


def test_rules_on_what_a_publisher_sends_do_not_judge_stored_articles_again() -> None:
    legacy = raw_article(
        id=".eski",
        published_at="2026-01-18T11:42:00+23:59",
        image={"url": "http://10.0.0.5/a.jpg"},
    )
    assert validate(legacy).id == ".eski"
