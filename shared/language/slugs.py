"""Slugs for section, tag and author names, with Turkish transliteration."""

from __future__ import annotations

from functools import lru_cache

from slugify import slugify as _slugify

# Apostrophes join a Turkish suffix to a name ("Rusya'dan", "Tabka'yı"): drop them so the
# word stays whole. Dotted and dotless I are mapped before lowercasing, because
# "İ".lower() is "i" plus a combining dot.
_REPLACEMENTS = [
    ["'", ""],
    ["\u2019", ""],
    ["\u2018", ""],
    ["\u02bc", ""],
    ["İ", "i"],
    ["I", "i"],
    ["ı", "i"],
]


@lru_cache(maxsize=65536)
def slugify(name: str) -> str:
    """Return the URL slug of a display name: "Dışişleri" → "disisleri".

    Returns an empty string when the name has no letters or digits at all.
    """
    return _slugify(
        name,
        replacements=_REPLACEMENTS,
        max_length=120,
        word_boundary=True,
        backend="text-unidecode",
    )
