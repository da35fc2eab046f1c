"""Slugs of section, tag and author names, checked against the corpus's expected slugs."""

from __future__ import annotations

import json

import pytest

from shared.language.slugs import slugify
from tests.conftest import DATA

EXPECTED = json.loads((DATA / "corpus" / "expected-slugs.json").read_text())
PAIRS = [
    pytest.param(name, slug, id=f"{group}:{slug}")
    for group in ("sections", "tags", "titles_to_slugs")
    for name, slug in EXPECTED[group].items()
]


def test_expected_slugs_cover_every_group() -> None:
    assert {"sections", "tags", "titles_to_slugs"} <= EXPECTED.keys()
    assert len(PAIRS) >= 13


@pytest.mark.parametrize(("name", "slug"), PAIRS)
def test_corpus_names_give_expected_slugs(name: str, slug: str) -> None:
    assert slugify(name) == slug


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("İstanbul", "istanbul"),
        ("İSTANBUL", "istanbul"),
        ("IĞDIR", "igdir"),
        ("Iğdır", "igdir"),
        ("Dışişleri", "disisleri"),
        ("Şişli", "sisli"),
        ("Çağrı", "cagri"),
        ("Ömür Öğüt", "omur-ogut"),
        ("Üsküdar", "uskudar"),
        ("Kâğıt Âşık", "kagit-asik"),
        ("AGİT", "agit"),
        # Already lowercased with Python's str.lower(): "i" plus a combining dot above.
        ("İstanbul".lower(), "istanbul"),
    ],
)
def test_turkish_letters_transliterate(name: str, slug: str) -> None:
    assert slugify(name) == slug


@pytest.mark.parametrize("apostrophe", ["'", "\u2019", "\u2018", "\u02bc"])
def test_apostrophes_keep_the_suffix_on_the_word(apostrophe: str) -> None:
    assert slugify(f"Ankara{apostrophe}nın kararı") == "ankaranin-karari"


@pytest.mark.parametrize("name", ["", "   ", "!!!", "--- ...", "«»“”", "'\u2019"])
def test_names_without_letters_or_digits_give_empty_slug(name: str) -> None:
    assert slugify(name) == ""


def test_slug_is_url_safe_and_bounded() -> None:
    slug = slugify("Çok uzun başlık " * 40)
    assert 0 < len(slug) <= 120
    assert set(slug) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert not slug.startswith("-")
    assert not slug.endswith("-")
