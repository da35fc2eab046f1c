"""Social card images: real rendering with the bundled fonts, real decoding of hostile bytes."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont, JpegImagePlugin, features

from services.render.card.background import CARD_SIZE, UnsafeImage, decode_background
from services.render.card.image import (
    ELLIPSIS,
    HEADLINE_SIZES,
    MARGIN,
    CardContent,
    CardStyle,
    layout_headline,
    load_font,
    parse_colour,
    render_card,
    wrap_headline,
)
from shared.language.turkish import curly_quotes
from shared.settings import Settings

TURKISH_LETTERS = "İıĞğŞşÇçÖöÜüÂâÎî"
WIDTH = CARD_SIZE[0] - 2 * MARGIN
SEED = CardContent(
    title="Rusya'dan flaş çıkış: Şansımız var",
    section="Dünya",
    site_name="Haber",
    date_text="18 Ocak 2026",
)
LONG_TITLE = (
    "İstanbul'da kar yağışı etkisini sürdürüyor: Meteoroloji Genel Müdürlüğü ılık hava "
    "dalgasının hafta sonuna kadar süreceğini açıkladı, Çağlayan ve Şişli'de öğrenciler "
    "okullara ulaşmakta güçlük çekerken belediye ekipleri ana arterlerde tuzlama çalışması "
    "yapıyor; Dışişleri Bakanlığı da yurt dışındaki vatandaşlar için ayrıca uyarıda bulundu"
)


@pytest.fixture
def style() -> CardStyle:
    return CardStyle.from_settings(Settings())


def image_bytes(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def photo(size: tuple[int, int] = (2000, 1333)) -> Image.Image:
    """A photo-like RGB image: two crossing gradients and a blue channel."""
    across = Image.linear_gradient("L").rotate(90).resize(size)
    down = Image.linear_gradient("L").resize(size)
    return Image.merge("RGB", (across, down, Image.new("L", size, 140)))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims `width`×`height` RGB but carries one zero row (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * (1 + 3 * min(width, 4096)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# --- fonts ----------------------------------------------------------------------------------


def glyph(font: ImageFont.FreeTypeFont, char: str) -> bytes:
    canvas = Image.new("L", (2 * font.size, 2 * font.size))
    ImageDraw.Draw(canvas).text((font.size // 2, font.size // 2), char, 255, font)
    return canvas.tobytes()


@pytest.mark.parametrize("which", ["headline_font", "label_font", "body_font"])
def test_every_turkish_letter_is_a_real_glyph(style: CardStyle, which: str) -> None:
    font = load_font(getattr(style, which), 48)
    notdef = glyph(font, "\ue000")  # private use: no font maps it, so this is .notdef
    for char in TURKISH_LETTERS + ELLIPSIS + "’‘“”":
        assert glyph(font, char) != notdef, f"{char!r} renders as the missing-glyph box"


@pytest.mark.parametrize("which", ["headline_font", "label_font", "body_font"])
def test_the_glyph_check_catches_a_missing_letter(style: CardStyle, which: str) -> None:
    # Source Sans Pro has no CJK: the same comparison must see the box there.
    font = load_font(getattr(style, which), 48)
    assert glyph(font, "漢") == glyph(font, "\ue000")
    assert glyph(font, "\U0010fffd") == glyph(font, "\ue000")


# --- headline layout ------------------------------------------------------------------------


def test_a_300_character_headline_stays_within_three_lines(style: CardStyle) -> None:
    title = LONG_TITLE[:300]
    assert len(title) == 300
    font = load_font(style.headline_font, HEADLINE_SIZES[-1])
    lines = wrap_headline(title, font, WIDTH, 3)
    assert len(lines) == 3
    assert lines[-1].endswith(ELLIPSIS)
    assert all(font.getlength(line) <= WIDTH for line in lines)
    # Broken at a word boundary: the text before the ellipsis is whole words of the title.
    shown = " ".join(lines)[: -len(ELLIPSIS)]
    assert title.startswith(shown)
    assert title[len(shown)] in " ,;:"


def test_a_short_headline_is_not_truncated(style: CardStyle) -> None:
    font = load_font(style.headline_font, HEADLINE_SIZES[0])
    assert wrap_headline(SEED.title, font, WIDTH, 3) == [SEED.title]
    size, lines = layout_headline(SEED.title, style, WIDTH)
    assert (size, lines) == (HEADLINE_SIZES[0], [SEED.title])


def test_a_headline_that_fits_is_balanced_without_a_lone_last_word(style: CardStyle) -> None:
    title = curly_quotes('Rusya\'dan flaş çıkış: "Şansımız var"')
    greedy = wrap_headline(title, load_font(style.headline_font, HEADLINE_SIZES[0]), WIDTH, 3)
    assert greedy[-1] == "var”"  # what plain filling would leave alone
    size, lines = layout_headline(title, style, WIDTH)
    assert (size, lines) == (HEADLINE_SIZES[0], ["Rusya’dan flaş çıkış:", "“Şansımız var”"])


def test_a_headline_that_fits_at_a_smaller_size_is_not_truncated(style: CardStyle) -> None:
    title = LONG_TITLE[:120].rsplit(" ", 1)[0]
    size, lines = layout_headline(title, style, WIDTH)
    assert len(lines) <= 3
    assert " ".join(lines) == " ".join(title.split())
    assert size < HEADLINE_SIZES[0]


def test_a_single_overlong_word_is_broken_between_glyphs(style: CardStyle) -> None:
    font = load_font(style.headline_font, 64)
    word = "Çekoslovakyalılaştıramadıklarımızdanmışsınızcasına" * 4
    lines = wrap_headline(word, font, WIDTH, 3)
    assert len(lines) == 3
    assert all(font.getlength(line) <= WIDTH for line in lines)
    assert lines[-1].endswith(ELLIPSIS)
    assert word.startswith("".join(lines)[: -len(ELLIPSIS)])


def test_a_break_never_separates_a_combining_mark_from_its_letter(style: CardStyle) -> None:
    font = load_font(style.headline_font, 64)
    word = "s\u0327" * 200  # s + combining cedilla, drawn as one "ş"
    for line in wrap_headline(word, font, WIDTH, 3):
        assert line[0] == "s"
        assert line.removesuffix(ELLIPSIS).endswith("\u0327")


# --- the card -------------------------------------------------------------------------------


def open_jpeg(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    assert image.size == CARD_SIZE
    return image


def test_the_card_is_a_1200x630_jpeg_without_chroma_subsampling(style: CardStyle) -> None:
    data = render_card(SEED, style)
    image = open_jpeg(data)
    assert JpegImagePlugin.get_sampling(image) == 0
    assert all(layer[1:3] == (1, 1) for layer in image.layer)
    assert len(data) <= 150 * 1024


def test_the_card_is_drawn_in_the_style_colours(style: CardStyle) -> None:
    image = open_jpeg(render_card(SEED, style)).convert("RGB")
    bottom_stripe = image.getpixel((600, 627))
    assert all(abs(a - b) <= 16 for a, b in zip(bottom_stripe, style.accent, strict=True))


def test_the_same_card_twice_is_the_same_bytes(style: CardStyle) -> None:
    assert render_card(SEED, style) == render_card(SEED, style)
    background = decode_background(image_bytes(photo(), "JPEG", quality=90))
    assert render_card(SEED, style, background) == render_card(SEED, style, background)


def test_the_section_label_is_uppercased_the_turkish_way(style: CardStyle) -> None:
    def card(section: str) -> bytes:
        return render_card(CardContent(SEED.title, section, "Haber", "18 Ocak 2026"), style)

    assert card("istanbul") == card("İSTANBUL")
    assert card("istanbul") != card("ISTANBUL")


def test_a_photo_background_is_cover_cropped_to_the_card(style: CardStyle) -> None:
    background = decode_background(image_bytes(photo(), "JPEG", quality=90))
    data = render_card(SEED, style, background)
    image = open_jpeg(data).convert("RGB")
    assert data != render_card(SEED, style)
    assert len(data) <= 150 * 1024
    # The photo's red channel runs left to right; shaded, it still does at the top.
    left, right = image.getpixel((20, 200)), image.getpixel((1180, 200))
    assert right[0] > left[0] + 40


def test_a_tall_photo_is_cropped_around_its_centre(style: CardStyle) -> None:
    background = decode_background(image_bytes(photo((600, 1800)), "PNG"))
    open_jpeg(render_card(SEED, style, background))


def test_a_300_character_headline_still_renders(style: CardStyle) -> None:
    content = CardContent(LONG_TITLE[:300], "Gündem", "Haber", "19 Ocak 2026")
    open_jpeg(render_card(content, style))


def test_long_section_and_site_names_stay_clear_of_the_right_edge(style: CardStyle) -> None:
    # JPEG blocks are coded independently: blocks nothing was drawn on decode identically.
    def region(content: CardContent, box: tuple[int, int, int, int]) -> bytes:
        return open_jpeg(render_card(content, style)).crop(box).tobytes()

    long_site = CardContent(SEED.title, SEED.section, "Haber " * 40, SEED.date_text)
    date_box = (968, 544, 1200, 600)
    assert region(long_site, date_box) == region(SEED, date_box)
    long_section = CardContent(SEED.title, "Kültür-Sanat " * 20, "Haber", SEED.date_text)
    right_of_label = (1144, 40, 1200, 112)
    assert region(long_section, right_of_label) == region(SEED, right_of_label)


def test_a_logo_is_drawn_when_set(tmp_path: Path) -> None:
    logo = Image.new("RGBA", (120, 60), (0, 0, 0, 0))
    ImageDraw.Draw(logo).ellipse((10, 5, 110, 55), fill=(255, 200, 0, 255))
    path = tmp_path / "logo.png"
    logo.save(path)
    with_logo = CardStyle.from_settings(Settings(card_logo=path))
    assert with_logo.logo == path
    assert render_card(SEED, with_logo) != render_card(SEED, CardStyle())


def test_style_colours_come_from_settings() -> None:
    settings = Settings(card_background="#000000", card_accent="#00FF7f", card_text="#fafafa")
    style = CardStyle.from_settings(settings)
    assert (style.background, style.accent, style.text) == ((0, 0, 0), (0, 255, 127), (250,) * 3)


@pytest.mark.parametrize("bad", ["red", "#12345", "#12345g", "#1234567"])
def test_a_malformed_colour_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="#rrggbb"):
        parse_colour(bad)


def test_a_missing_logo_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="logo"):
        CardStyle.from_settings(Settings(card_logo=tmp_path / "missing.png"))


# --- decoding backgrounds -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_the_four_web_formats_are_decoded(fmt: str) -> None:
    if fmt == "WEBP" and not features.check("webp"):
        pytest.fail("this Pillow was built without WebP")
    image = decode_background(image_bytes(photo((300, 200)), fmt))
    assert (image.size, image.mode) == ((300, 200), "RGB")


def test_a_large_jpeg_is_decoded_at_reduced_scale() -> None:
    assert decode_background(image_bytes(photo(), "JPEG")).size == (1000, 667)
    assert decode_background(image_bytes(photo((4000, 2667)), "JPEG")).size == (1000, 667)
    # Not below what covers the card: 1/2 of 1600×900 would need a 1.5× upscale.
    assert decode_background(image_bytes(photo((1600, 900)), "JPEG")).size == (1600, 900)


def test_a_16_bit_grey_png_is_scaled_not_clipped() -> None:
    grey = Image.new("I;16", (40, 30), 0x8000)
    assert decode_background(image_bytes(grey, "PNG")).getpixel((0, 0)) == (128, 128, 128)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF"])
def test_transparent_pixels_become_black(fmt: str) -> None:
    clear = Image.new("RGBA", (40, 30), (255, 255, 255, 0))
    clear.paste((200, 30, 30, 255), (0, 0, 20, 30))
    decoded = decode_background(image_bytes(clear, fmt))
    assert decoded.getpixel((35, 15)) == (0, 0, 0)
    assert decoded.getpixel((5, 15))[0] > 150


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90° clockwise
    data = image_bytes(photo((300, 200)), "JPEG", exif=exif.tobytes())
    assert decode_background(data).size == (200, 300)


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>'


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(SVG, id="svg"),
        pytest.param(image_bytes(photo((64, 64)), "BMP"), id="bmp"),
        pytest.param(image_bytes(photo((64, 64)), "TIFF"), id="tiff"),
        pytest.param(image_bytes(photo((64, 64)), "ICO"), id="ico"),
        pytest.param(image_bytes(photo((64, 64)), "PPM"), id="ppm"),
        pytest.param(image_bytes(photo((64, 64)), "JPEG")[:600], id="truncated-jpeg"),
        pytest.param(image_bytes(photo((64, 64)), "PNG")[:-40], id="truncated-png"),
        pytest.param(bytes(range(256)) * 8, id="random-bytes"),
        pytest.param(b"", id="empty"),
    ],
)
def test_other_formats_and_broken_data_are_refused(data: bytes) -> None:
    with pytest.raises(UnsafeImage):
        decode_background(data)


@pytest.mark.parametrize(
    ("width", "height"),
    [(60000, 60000), (10000, 10000), (7000, 7000)],  # Pillow's error, its warning, our limit
)
def test_a_decompression_bomb_is_refused_before_it_is_allocated(width: int, height: int) -> None:
    data = png_header_only(width, height)
    assert len(data) < 20_000
    filters = list(warnings.filters)
    # Refused for the size its header states, before any pixel: the data is a header alone,
    # so had decoding begun, the error would be a truncated image's, not this one.
    with pytest.raises(UnsafeImage, match=r"bomb|limit"):
        decode_background(data)
    assert warnings.filters == filters  # the warning became an error only inside the call


def test_an_image_below_the_limit_is_not_a_bomb() -> None:
    assert decode_background(image_bytes(photo((3000, 2000)), "PNG")).size == (3000, 2000)
