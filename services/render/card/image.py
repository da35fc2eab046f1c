"""Social card images: a 1200×630 JPEG with headline, section, site and date, over a photo
(see card.background) or the site's colours."""

from __future__ import annotations

import functools
import io
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import font_source_sans_pro
from PIL import Image, ImageDraw, ImageFont

from services.render.card.background import CARD_SIZE, cover
from shared.language import turkish

if TYPE_CHECKING:
    from shared.settings import Settings

RGB = tuple[int, int, int]

MARGIN = 64
HEADLINE_SIZES = (72, 64, 56)  # the largest that fits without an ellipsis wins
HEADLINE_LINES = 3
LINE_HEIGHT = 1.12
LABEL_SIZE = 26
FOOTER_SIZE = 28
LOGO_HEIGHT = 40
ELLIPSIS = "…"
JPEG_QUALITY = 85

_FONT_DIR = Path(font_source_sans_pro.font_directory)


def parse_colour(value: str) -> RGB:
    """Return the RGB tuple of a "#rrggbb" string."""
    text = value.strip().removeprefix("#")
    if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise ValueError(f"a card colour must be #rrggbb, not {value!r}")
    return (int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16))


def _mix(a: RGB, b: RGB, share_of_b: float) -> RGB:
    red, green, blue = (round(x + (y - x) * share_of_b) for x, y in zip(a, b, strict=True))
    return (red, green, blue)


@dataclass(frozen=True)
class CardStyle:
    """The site's look: colours, optional logo and the font files (hashable, so cacheable)."""

    background: RGB = (0x12, 0x28, 0x4C)
    accent: RGB = (0xE3, 0x0A, 0x17)
    text: RGB = (0xFF, 0xFF, 0xFF)
    logo: Path | None = None
    headline_font: Path = _FONT_DIR / "SourceSansPro-Bold.ttf"
    label_font: Path = _FONT_DIR / "SourceSansPro-Semibold.ttf"
    body_font: Path = _FONT_DIR / "SourceSansPro-Regular.ttf"

    @classmethod
    def from_settings(cls, settings: Settings) -> CardStyle:
        if settings.card_logo is not None and not settings.card_logo.is_file():
            raise ValueError(f"NEWSWIRE_CARD_LOGO {settings.card_logo} is not a readable file")
        return cls(
            background=parse_colour(settings.card_background),
            accent=parse_colour(settings.card_accent),
            text=parse_colour(settings.card_text),
            logo=settings.card_logo,
        )


@dataclass(frozen=True)
class CardContent:
    """What one card says; `date_text` is already formatted ("18 Ocak 2026")."""

    title: str
    section: str
    site_name: str
    date_text: str


@functools.cache
def load_font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    # Basic layout, not Raqm: Turkish needs no shaping, it is faster, and it never forms the
    # "fi" ligature, whose glyph drops the distinction between "fi" and "fı".
    return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.BASIC)


# --- headline layout ------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _length(font: ImageFont.FreeTypeFont, text: str) -> float:
    # Measuring costs ~20 µs, and balancing a headline measures the same lines many times.
    return font.getlength(text)


def _breakable(text: str, at: int) -> bool:
    """Whether text may be cut before index `at` without splitting a visible glyph."""
    if at <= 0 or at >= len(text):
        return True
    nxt, prev = text[at], text[at - 1]
    return not (unicodedata.combining(nxt) or nxt in "\u200d\ufe0e\ufe0f" or prev == "\u200d")


def _longest_prefix(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> int:
    """Length of the longest glyph-whole prefix of `text` that fits (at least one glyph)."""
    lo, hi = 1, len(text)
    while lo < hi:  # the largest n with getlength(text[:n]) <= max_width
        mid = (lo + hi + 1) // 2
        if _length(font, text[:mid]) <= max_width:
            lo = mid
        else:
            hi = mid - 1
    cut = lo
    while cut > 1 and not _breakable(text, cut):
        cut -= 1
    while not _breakable(text, cut):  # even one glyph is too wide: keep it whole anyway
        cut += 1
    return cut


def _ellipsize(line: str, font: ImageFont.FreeTypeFont, max_width: float) -> str:
    """`line` shortened, at a word boundary if one leaves it readable, to end with "…"."""
    words = line.split(" ")
    while len(words) > 1:
        candidate = " ".join(words).rstrip(" ,;:.-–—") + ELLIPSIS
        if _length(font, candidate) <= max_width:
            return candidate
        words.pop()
    room = max_width - _length(font, ELLIPSIS)
    word = words[0]
    if _length(font, word) > room:
        word = word[: _longest_prefix(word, font, room)]
    return word.rstrip(" ,;:.-–—") + ELLIPSIS


def _fill(
    text: str, font: ImageFont.FreeTypeFont, max_width: float, max_lines: int
) -> tuple[list[str], bool]:
    """Greedy line filling: the first `max_lines` lines, and whether text was left over."""
    lines: list[str] = []
    pending = text.split()
    while pending:
        word = pending.pop(0)
        if lines and _length(font, f"{lines[-1]} {word}") <= max_width:
            lines[-1] = f"{lines[-1]} {word}"
            continue
        if _length(font, word) > max_width:
            cut = _longest_prefix(word, font, max_width)
            if word[cut:]:
                pending.insert(0, word[cut:])
            word = word[:cut]
        if len(lines) == max_lines:
            return lines, True
        lines.append(word)
    return lines, False


def wrap_headline(
    text: str, font: ImageFont.FreeTypeFont, max_width: float, max_lines: int
) -> list[str]:
    """Break `text` into at most `max_lines` lines no wider than `max_width` in `font`.

    Lines break between words; a word wider than a line is broken between glyphs. Text that
    does not fit ends with "…" on the last line, after the last word that leaves room for it.
    """
    lines, truncated = _fill(text, font, max_width, max_lines)
    if truncated:
        lines[-1] = _ellipsize(lines[-1], font, max_width)
    return lines


def layout_headline(title: str, style: CardStyle, max_width: float) -> tuple[int, list[str]]:
    """The headline's font size and lines: the largest size it fits in whole, else the least.

    A headline that fits is balanced: set in the narrowest width that keeps its line count,
    so no last line holds a lone word.
    """
    for size in HEADLINE_SIZES:
        font = load_font(style.headline_font, size)
        lines, truncated = _fill(title, font, max_width, HEADLINE_LINES)
        if not truncated:
            return size, _balance(title, font, max_width, lines)
    return size, wrap_headline(title, font, max_width, HEADLINE_LINES)  # the smallest size


def _balance(
    text: str, font: ImageFont.FreeTypeFont, max_width: float, lines: list[str]
) -> list[str]:
    if len(lines) < 2:
        return lines
    widest_word = max(_length(font, word) for word in text.split())
    lo, hi = max(widest_word, max_width / len(lines)), max_width
    while hi - lo > 4:  # the narrowest width (to 4 px) that still takes no more lines
        mid = (lo + hi) / 2
        if _fill(text, font, mid, len(lines))[1]:
            lo = mid
        else:
            hi = mid
    return _fill(text, font, hi, len(lines))[0]


# --- drawing --------------------------------------------------------------------------------


@functools.cache
def _branded_background(style: CardStyle) -> Image.Image:
    """The card without a photo: the site colour, lit from the top right (built once)."""
    light = Image.new("RGB", CARD_SIZE, _mix(style.background, (255, 255, 255), 0.10))
    dark = Image.new("RGB", CARD_SIZE, _mix(style.background, (0, 0, 0), 0.35))
    # A 256×256 ramp, turned 45° and stretched, is a diagonal from top right to bottom left.
    ramp = Image.linear_gradient("L").rotate(-45, resample=Image.Resampling.BILINEAR, expand=True)
    ramp = ramp.crop((ramp.width // 4, ramp.height // 4, 3 * ramp.width // 4, 3 * ramp.height // 4))
    ramp = ramp.resize(CARD_SIZE, Image.Resampling.BILINEAR)
    return Image.composite(dark, light, ramp)


@functools.cache
def _photo_shade(style: CardStyle) -> tuple[Image.Image, Image.Image]:
    """A site-coloured tint and its opacity mask: light at the top, dense under the text."""
    tint = Image.new("RGB", CARD_SIZE, _mix(style.background, (0, 0, 0), 0.55))
    height = CARD_SIZE[1]
    column = bytes(_shade_opacity(y / (height - 1)) for y in range(height))
    mask = Image.frombytes("L", (1, height), column).resize(CARD_SIZE, Image.Resampling.NEAREST)
    return tint, mask


def _shade_opacity(y: float) -> int:
    """Overlay opacity (0–255) at relative height y: keeps the label and headline legible."""
    if y < 0.25:  # behind the section label, fading out
        share = 0.50 - 0.25 * (y / 0.25)
    elif y < 0.75:  # a smooth rise from where the photo shows most to behind the headline
        t = (y - 0.25) / 0.50
        share = 0.25 + 0.63 * (3 * t * t - 2 * t * t * t)
    else:  # near-solid behind the last line and the footer
        share = 0.88 + 0.04 * (y - 0.75) / 0.25
    return round(255 * share)


@functools.cache
def _logo(path: Path, height: int, max_width: int) -> Image.Image:
    with Image.open(path) as source:
        logo = source.convert("RGBA")
    scale = min(height / logo.height, max_width / logo.width)
    size = (max(1, round(logo.width * scale)), max(1, round(logo.height * scale)))
    return logo.resize(size, Image.Resampling.LANCZOS)


def _one_line(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> str:
    """`text` on one line, ending with "…" if it is wider than `max_width`."""
    return (wrap_headline(text, font, max_width, 1) or [""])[0]


def _draw_label(draw: ImageDraw.ImageDraw, text: str, style: CardStyle) -> None:
    """The section name, uppercased, white on an accent box at the top left."""
    font = load_font(style.label_font, LABEL_SIZE)
    pad_x, top, box_height = 16, 52, 46
    cap_top = font.getbbox("H", anchor="ls")[1]  # negative: cap height above the baseline
    baseline = top + (box_height - cap_top) // 2
    text = _one_line(text, font, CARD_SIZE[0] - 2 * MARGIN - 2 * pad_x)
    width = font.getlength(text)
    draw.rectangle((MARGIN, top, MARGIN + width + 2 * pad_x, top + box_height), style.accent)
    draw.text((MARGIN + pad_x, baseline), text, style.text, font, anchor="ls")


def _draw_headline(draw: ImageDraw.ImageDraw, title: str, style: CardStyle, bottom: int) -> None:
    """The headline, bottom-aligned so its last baseline sits at `bottom`."""
    size, lines = layout_headline(title, style, CARD_SIZE[0] - 2 * MARGIN)
    font = load_font(style.headline_font, size)
    step = round(size * LINE_HEIGHT)
    first = bottom - step * (len(lines) - 1)
    for i, line in enumerate(lines):
        draw.text((MARGIN, first + i * step), line, style.text, font, anchor="ls")


def _draw_footer(card: Image.Image, content: CardContent, style: CardStyle) -> None:
    """A rule, then the logo and site name on the left and the date on the right."""
    draw = ImageDraw.Draw(card)
    width, height = CARD_SIZE
    baseline = height - 46
    quiet = _mix(style.text, style.background, 0.30)
    draw.rectangle((MARGIN, height - 104, width - MARGIN, height - 103), quiet)
    date_font = load_font(style.body_font, FOOTER_SIZE)
    draw.text((width - MARGIN, baseline), content.date_text, quiet, date_font, anchor="rs")
    x = MARGIN
    if style.logo is not None:
        logo = _logo(style.logo, LOGO_HEIGHT, 4 * LOGO_HEIGHT)
        card.paste(logo, (x, baseline + 8 - logo.height), logo)
        x += logo.width + 16
    name_font = load_font(style.label_font, FOOTER_SIZE)
    room = width - MARGIN - date_font.getlength(content.date_text) - 32 - x
    name = _one_line(content.site_name, name_font, room)
    draw.text((x, baseline), name, style.text, name_font, anchor="ls")
    draw.rectangle((0, height - 8, width, height), style.accent)


def render_card(
    content: CardContent,
    style: CardStyle,
    background: Image.Image | None = None,
    comment: bytes = b"",
) -> bytes:
    """Return the 1200×630 JPEG card: headline, section, site, date, over a photo or colour.

    `background` is a decoded photo (see `decode_background`); it is cover-cropped and shaded.
    `comment` is stored in the file (a JPEG COM segment), e.g. what the card was drawn from.
    The same arguments always give the same bytes.
    """
    if background is None:
        card = _branded_background(style).copy()
    else:
        tint, mask = _photo_shade(style)
        photo = background if background.mode == "RGB" else background.convert("RGB")
        card = Image.composite(tint, cover(photo), mask)
    draw = ImageDraw.Draw(card)
    if content.section:
        _draw_label(draw, turkish.upper(content.section), style)
    _draw_headline(draw, turkish.curly_quotes(content.title), style, CARD_SIZE[1] - 136)
    _draw_footer(card, content, style)
    out = io.BytesIO()
    # 4:4:4 (no chroma subsampling): with 4:2:0, white text on red and blue gets soft edges.
    card.save(out, "JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=False, comment=comment)
    return out.getvalue()
