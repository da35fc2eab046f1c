"""Turkish dates, dotted/dotless I case mapping and Open Graph locales."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.language.turkish import curly_quotes, format_date, lower, og_locale, upper

ISTANBUL = "Europe/Istanbul"
MONTHS = [
    (1, "Ocak"), (2, "Şubat"), (3, "Mart"), (4, "Nisan"), (5, "Mayıs"), (6, "Haziran"),
    (7, "Temmuz"), (8, "Ağustos"), (9, "Eylül"), (10, "Ekim"), (11, "Kasım"), (12, "Aralık"),
]  # fmt: skip


@pytest.mark.parametrize(("month", "name"), MONTHS)
def test_every_month_has_its_turkish_name(month: int, name: str) -> None:
    assert format_date(datetime(2026, month, 15, 12, tzinfo=UTC), ISTANBUL) == f"15 {name} 2026"


def test_the_day_has_no_leading_zero() -> None:
    assert format_date(datetime(2026, 2, 1, 9, tzinfo=UTC), ISTANBUL) == "1 Şubat 2026"


def test_the_date_is_the_one_in_the_given_zone() -> None:
    late_utc = datetime(2026, 1, 18, 23, 30, tzinfo=UTC)
    assert format_date(late_utc, ISTANBUL) == "19 Ocak 2026"
    assert format_date(late_utc, "UTC") == "18 Ocak 2026"
    assert format_date(late_utc, "America/New_York") == "18 Ocak 2026"


def test_the_moments_own_offset_does_not_decide_the_day() -> None:
    # 02:30 on the 19th in Istanbul, written with a -05:00 offset as the 18th.
    moment = datetime(2026, 1, 18, 18, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert format_date(moment, ISTANBUL) == "19 Ocak 2026"


def test_new_year_in_istanbul_comes_three_hours_before_utc() -> None:
    assert format_date(datetime(2025, 12, 31, 21, 30, tzinfo=UTC), ISTANBUL) == "1 Ocak 2026"


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        format_date(datetime(2026, 1, 18, 12), ISTANBUL)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("istanbul", "İSTANBUL"),
        ("ılık", "ILIK"),
        ("Dışişleri", "DIŞİŞLERİ"),
        ("Dünya", "DÜNYA"),
        ("çğöşü âî", "ÇĞÖŞÜ ÂÎ"),
        ("Yapay zekâ", "YAPAY ZEKÂ"),
        ("straße", "STRASSE"),  # everything else as str.upper
    ],
)
def test_upper_follows_the_turkish_rule(text: str, expected: str) -> None:
    assert upper(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("İSTANBUL", "istanbul"),
        ("ILIK", "ılık"),
        ("DIŞİŞLERİ", "dışişleri"),
        ("AGİT", "agit"),
        ("ÇĞÖŞÜ ÂÎ", "çğöşü âî"),
    ],
)
def test_lower_follows_the_turkish_rule(text: str, expected: str) -> None:
    assert lower(text) == expected


def test_lower_never_leaves_a_combining_dot() -> None:
    assert "\u0307" not in lower("İzmir İSTANBUL")
    assert "İ".lower() == "i\u0307"  # what this guards against


def test_upper_and_lower_round_trip_turkish_letters() -> None:
    letters = "abcçdefgğhıijklmnoöprsştuüvyz"
    assert lower(upper(letters)) == letters
    assert upper(letters) == "ABCÇDEFGĞHIİJKLMNOÖPRSŞTUÜVYZ"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Rusya'dan flaş çıkış", "Rusya’dan flaş çıkış"),
        ('Lavrov: "Şansımız var"', "Lavrov: “Şansımız var”"),
        ("'endişelenmeyin' dedi", "‘endişelenmeyin’ dedi"),
        ('("AGİT\'in")', "(“AGİT’in”)"),
        ('"Babanız Trump\'ı kışkırtmayın!"', "“Babanız Trump’ı kışkırtmayın!”"),
        ("no quotes", "no quotes"),
    ],
)
def test_curly_quotes(text: str, expected: str) -> None:
    assert curly_quotes(text) == expected


@pytest.mark.parametrize(
    ("language", "locale"),
    [
        ("tr", "tr_TR"),
        ("tr-TR", "tr_TR"),
        ("TR-tr", "tr_TR"),
        ("tr_TR", "tr_TR"),
        ("en", "en_US"),
        ("en-GB", "en_GB"),
        ("de", "de_DE"),
        ("ar", "ar_AR"),
        ("zh-Hant-TW", "zh_TW"),
        ("sr-Latn", "sr_RS"),
        ("es-419", "es_ES"),
        ("xx", "xx_XX"),
        ("", "en_US"),
        ("1234", "en_US"),
    ],
)
def test_og_locale(language: str, locale: str) -> None:
    assert og_locale(language) == locale
