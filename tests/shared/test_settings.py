"""Settings: what production refuses to start without, and values checked on the way in."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import Settings

KEYS = {"a" * 64: "newsroom"}
IDENTITY = {
    "site_url": "https://haber.example.com.tr/",
    "feeds_base_url": "https://f.example/",
    "site_publisher": "newsroom",
}


def test_production_starts_with_keys_and_an_explicit_site_identity() -> None:
    settings = Settings(environment="production", api_keys=KEYS, **IDENTITY)
    assert settings.site_host == "haber.example.com.tr"


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("api_keys", "NEWSWIRE_API_KEYS"),
        ("site_url", "NEWSWIRE_SITE_URL"),
        ("feeds_base_url", "NEWSWIRE_FEEDS_BASE_URL"),
        ("site_publisher", "NEWSWIRE_SITE_PUBLISHER"),
    ],
)
def test_production_refuses_to_start_without(missing: str, named: str) -> None:
    given = {"api_keys": KEYS, **IDENTITY}
    del given[missing]
    with pytest.raises(ValidationError, match=f"{named} must be set in production"):
        Settings(environment="production", **given)


def test_development_has_working_defaults() -> None:
    settings = Settings()
    assert settings.sitemap_base == str(settings.feeds_base_url)
    assert settings.tag_date == "2026"


@pytest.mark.parametrize("date", ["2026", "2026-01", "2026-01-18"])
def test_tag_dates_follow_rfc_4151(date: str) -> None:
    assert Settings(tag_date=date).tag_date == date


@pytest.mark.parametrize("date", ["26", "2026-1", "18.01.2026", "2026-01-18T00:00"])
def test_other_tag_dates_are_refused(date: str) -> None:
    with pytest.raises(ValidationError, match="tag_date"):
        Settings(tag_date=date)


def test_fetch_networks_are_checked_at_startup() -> None:
    assert Settings(fetch_allow_networks=["127.0.0.2/32"]).fetch_allow_networks == ["127.0.0.2/32"]
    with pytest.raises(ValidationError, match="fetch_allow_networks"):
        Settings(fetch_allow_networks=["not-a-network"])
