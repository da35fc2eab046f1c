"""Turkish text rules: dates in words, dotted/dotless I case, quotes, Open Graph locales."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

MONTHS = (
    "Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran",
    "Temmuz", "Ağustos", "Eylül", "Ekim", "Kasım", "Aralık",
)  # fmt: skip

# Python's case mapping is language-neutral: "i".upper() is "I" and "İ".lower() is "i" plus a
# combining dot. Turkish pairs i/İ and ı/I, so those four letters are mapped first.
_UPPER = str.maketrans({"i": "İ", "ı": "I"})
_LOWER = str.maketrans({"İ": "i", "I": "ı"})

# The usual country of a bare language, in the locales Facebook's Open Graph accepts.
_OG_REGIONS = {
    "ar": "AR", "az": "AZ", "bg": "BG", "bs": "BA", "ca": "ES", "cs": "CZ", "da": "DK",
    "de": "DE", "el": "GR", "en": "US", "es": "ES", "et": "EE", "fa": "IR", "fi": "FI",
    "fr": "FR", "he": "IL", "hr": "HR", "hu": "HU", "hy": "AM", "id": "ID", "it": "IT",
    "ja": "JP", "ka": "GE", "kk": "KZ", "ko": "KR", "ku": "TR", "lt": "LT", "lv": "LV",
    "mk": "MK", "nb": "NO", "nl": "NL", "pl": "PL", "pt": "BR", "ro": "RO", "ru": "RU",
    "sk": "SK", "sl": "SI", "sq": "AL", "sr": "RS", "sv": "SE", "tr": "TR", "uk": "UA",
    "ur": "PK", "uz": "UZ", "vi": "VN", "zh": "CN",
}  # fmt: skip
_OG_FALLBACK = "en_US"  # Open Graph's own default when og:locale is absent


def format_date(moment: datetime, tz: str) -> str:
    """Return the calendar date of `moment` in zone `tz`, in Turkish: "18 Ocak 2026".

    Args:
        moment: an aware datetime; the day is the one it falls on in `tz`, not in its offset.
        tz: an IANA zone name, e.g. "Europe/Istanbul".

    Raises:
        ValueError: `moment` is naive (its day would depend on the machine's zone).
        zoneinfo.ZoneInfoNotFoundError: `tz` is not a known zone.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("format_date needs an aware datetime")
    local = moment.astimezone(ZoneInfo(tz))
    return f"{local.day} {MONTHS[local.month - 1]} {local.year}"


def upper(text: str) -> str:
    """Uppercase with the Turkish rule: "istanbul ılık" → "İSTANBUL ILIK"."""
    return text.translate(_UPPER).upper()


def lower(text: str) -> str:
    """Lowercase with the Turkish rule: "DIŞİŞLERİ" → "dışişleri"."""
    return text.translate(_LOWER).lower()


def curly_quotes(text: str) -> str:
    """Straight quotes as typographic ones, for display: "Rusya'dan" → "Rusya’dan".

    A quote at the start or after a space, dash or opening bracket opens; any other closes,
    which makes the apostrophe before a suffix ("AGİT'in") the right ’.
    """
    out = []
    for i, char in enumerate(text):
        if char in "'\"":
            opens = i == 0 or text[i - 1].isspace() or text[i - 1] in "([{“‘-–—/"
            char = {"'": "‘’", '"': "“”"}[char][0 if opens else 1]
        out.append(char)
    return "".join(out)


def og_locale(language: str) -> str:
    """Return the Open Graph locale (language_TERRITORY) of a BCP 47 tag.

    "tr" → "tr_TR", "tr-TR" → "tr_TR", "en-GB" → "en_GB", "zh-Hant-TW" → "zh_TW". A bare
    language outside the table gets its own code as territory ("xx" → "xx_XX"); a tag that is
    no language at all gets "en_US", the Open Graph default.
    """
    subtags = language.strip().replace("_", "-").split("-")
    lang = subtags[0].lower()
    if not (2 <= len(lang) <= 3 and lang.isascii() and lang.isalpha()):
        return _OG_FALLBACK
    # The first two-letter subtag after the language is the region; scripts have four letters
    # and UN M.49 regions ("419") have no Open Graph spelling, so both are skipped.
    region = next((s.upper() for s in subtags[1:] if len(s) == 2 and s.isalpha()), None)
    return f"{lang}_{region or _OG_REGIONS.get(lang, lang.upper())}"
