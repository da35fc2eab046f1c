"""Background photos for social cards: untrusted bytes decoded safely, then cover-cropped."""

from __future__ import annotations

import io
import math
import struct
import warnings
import zlib

from PIL import Image, ImageOps, UnidentifiedImageError

CARD_SIZE = (1200, 630)

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
# Pillow's own limit (~89 MP) is for general use; a card needs 0.76 MP, and no newsroom photo
# is near 40 MP, so anything larger is refused before a single row is decoded.
MAX_IMAGE_PIXELS = 40_000_000
# JPEG draft mode decodes at 1/2, 1/4 or 1/8 scale inside libjpeg; a scale that leaves the
# photo up to this much smaller than the card covers it is still accepted, because upscaling
# 1000×667 to 1200×800 under a dark overlay is invisible and halves the decode time.
DRAFT_UPSCALE_TOLERANCE = 1.25

# What Pillow's plugins raise on broken data ("image file is truncated" is an OSError).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)
_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)


class UnsafeImage(ValueError):
    """Background image bytes that were refused: not JPEG/PNG/WebP/GIF, too big or broken."""


def decode_background(data: bytes, size: tuple[int, int] = CARD_SIZE) -> Image.Image:
    """Decode untrusted image bytes into an RGB image at least about `size` to cover.

    Only JPEG, PNG, WebP and GIF are read (the first frame of an animation). Dimensions are
    checked from the header before any pixel is decoded, and a JPEG is decoded at the
    smallest 1/2, 1/4 or 1/8 scale that still covers `size`.

    Raises:
        UnsafeImage: another format, more than MAX_IMAGE_PIXELS, or truncated/corrupt data.
    """
    try:
        with warnings.catch_warnings():
            # Only inside this block: Pillow's bomb warning is an error for untrusted input.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            if image.format not in ALLOWED_FORMATS:
                raise UnsafeImage(f"{image.format} images are not accepted")
            width, height = image.size
            if width < 1 or height < 1 or width * height > MAX_IMAGE_PIXELS:
                raise UnsafeImage(f"a {width}×{height} image is over the size limit")
            if image.format == "JPEG":
                image.draft("RGB", _draft_request(width, height, size))
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            return _to_rgb(image)
    except UnsafeImage:
        raise
    except UnidentifiedImageError as exc:
        raise UnsafeImage("not a JPEG, PNG, WebP or GIF image") from exc
    except (*_DECODE_ERRORS, *_BOMB) as exc:
        raise UnsafeImage(f"not a usable image: {type(exc).__name__}: {exc}") from exc


def _to_rgb(image: Image.Image) -> Image.Image:
    """Plain RGB: 16-bit grey scaled (Pillow's convert would clip it), transparency on black."""
    if image.mode.startswith("I"):
        image = image.convert("I").point(lambda v: v / 256).convert("L")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
    return image if image.mode == "RGB" else image.convert("RGB")


def _draft_request(width: int, height: int, size: tuple[int, int]) -> tuple[int, int]:
    """The size to ask `Image.draft` for, so its scale still (nearly) covers `size`."""
    reach = max(size[0] / width, size[1] / height) / DRAFT_UPSCALE_TOLERANCE
    return (math.ceil(width * reach), math.ceil(height * reach))


def cover(image: Image.Image, size: tuple[int, int] = CARD_SIZE) -> Image.Image:
    """`image` scaled to fill `size` and cropped around its centre."""
    scale = max(size[0] / image.width, size[1] / image.height)
    width, height = size[0] / scale, size[1] / scale  # the part of the image that is kept
    left, top = (image.width - width) / 2, (image.height - height) / 2
    # Resizing just that box does the crop and the scale in one pass.
    box = (left, top, left + width, top + height)
    return image.resize(size, Image.Resampling.BILINEAR, box=box, reducing_gap=3.0)
