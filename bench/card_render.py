"""Social card rendering: time per 1200×630 JPEG card, with and without a photo background.

    .venv/bin/python -m bench.card_render [--cards 200]

No stack is needed: this times the pure functions a card build calls. Each card without a
photo is drawn on the site colours; each card with one first decodes a 2000×1333 JPEG from
bytes (generated once, with soft shapes and grain so it weighs what a newsroom photo does),
as production decodes the fetched bytes every time. A card's time covers decoding, drawing
and JPEG encoding. A few cards are drawn first, unmeasured, to load fonts and styles.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from bench.articles import ISTANBUL, SECTIONS, load_corpus
from bench.cli import positive_int, run_main
from bench.report import Figure, say
from services.render.card.background import CARD_SIZE, decode_background
from services.render.card.image import CardContent, CardStyle, render_card
from shared.language.turkish import format_date

TARGET_MEDIAN_MS = 20
TARGET_KB = 150
PHOTO_SIZE = (2000, 1333)
WARMUP = 5


def make_photo(size: tuple[int, int] = PHOTO_SIZE, seed: int = 7) -> bytes:
    """A photo-like JPEG (quality 85): a sky-to-ground gradient, soft shapes and sensor grain."""
    rng = random.Random(seed)
    width, height = size
    ramp = Image.linear_gradient("L").resize(size, Image.Resampling.BILINEAR)
    sky, ground = Image.new("RGB", size, (150, 185, 220)), Image.new("RGB", size, (70, 60, 45))
    photo = Image.composite(ground, sky, ramp)
    draw = ImageDraw.Draw(photo)
    for _ in range(90):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(20, 260)
        colour = tuple(rng.randrange(30, 230) for _ in range(3))
        draw.ellipse((x - r, y - r // 2, x + r, y + r), fill=colour)
    for _ in range(40):  # hard edges, as buildings and people have
        x, y = rng.randrange(width), rng.randrange(height // 3, height)
        colour = tuple(rng.randrange(20, 200) for _ in range(3))
        draw.rectangle((x, y, x + rng.randrange(30, 200), height), fill=colour)
    photo = photo.filter(ImageFilter.GaussianBlur(2))
    grain = Image.frombytes("L", size, rng.randbytes(width * height)).convert("RGB")
    photo = Image.blend(photo, grain, 0.06)
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=85)
    return out.getvalue()


def contents(count: int) -> list[CardContent]:
    """Cards for the sample site's headlines, over eight sections and a fortnight of dates."""
    _, site = load_corpus()
    start = datetime(2026, 1, 18, 9, 30, tzinfo=ISTANBUL)
    return [
        CardContent(
            # Numbered first, so no line of one headline repeats another's (as in production).
            title=f"{n}. gün: " + site[n % len(site)]["title"] + (" — son gelişmeler" * (n % 3)),
            section=SECTIONS[n % len(SECTIONS)],
            site_name="Haber",
            date_text=format_date(start + timedelta(hours=7 * n), "Europe/Istanbul"),
        )
        for n in range(count)
    ]


def measure(
    draw: Callable[[CardContent], bytes], cards: list[CardContent]
) -> tuple[list[float], list[int]]:
    """Milliseconds and bytes of each card."""
    for content in cards[:WARMUP]:
        draw(content)
    times, sizes = [], []
    for content in cards:
        started = time.perf_counter()
        jpeg = draw(content)
        times.append((time.perf_counter() - started) * 1000)
        sizes.append(len(jpeg))
    return times, sizes


def figures_for(label: str, times: list[float], sizes: list[int]) -> list[Figure]:
    median = statistics.median(times)
    p99 = statistics.quantiles(times, n=100)[98] if len(times) > 1 else times[0]
    mean_kb, max_kb = statistics.mean(sizes) / 1024, max(sizes) / 1024
    return [
        Figure(f"{label}: median", median, unit=" ms", spec=".1f", at_most=TARGET_MEDIAN_MS,
               target=f"median ≤ {TARGET_MEDIAN_MS} ms"),
        Figure(f"{label}: p99", p99, unit=" ms", spec=".1f"),
        Figure(f"{label}: mean size", mean_kb, unit=" KB", at_most=TARGET_KB),
        Figure(f"{label}: largest", max_kb, unit=" KB", at_most=TARGET_KB),
    ]  # fmt: skip


def run(args: argparse.Namespace) -> list[Figure]:
    style = CardStyle()
    cards = contents(args.cards)
    photo = make_photo()
    say(f"machine: {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, Pillow {Image.__version__}")  # fmt: skip
    say(f"cards:   {len(cards)} of each kind, {CARD_SIZE[0]}×{CARD_SIZE[1]}; photo "
        f"{PHOTO_SIZE[0]}×{PHOTO_SIZE[1]} JPEG of {len(photo) / 1024:.0f} KB")  # fmt: skip
    plain_times, plain_sizes = measure(lambda c: render_card(c, style), cards)
    photo_times, photo_sizes = measure(
        lambda c: render_card(c, style, decode_background(photo)), cards
    )
    decode_times = []
    for _ in range(50):
        started = time.perf_counter()
        decode_background(photo)
        decode_times.append((time.perf_counter() - started) * 1000)
    if args.save is not None:
        args.save.mkdir(parents=True, exist_ok=True)
        (args.save / "card.jpg").write_bytes(render_card(cards[0], style))
        (args.save / "card-photo.jpg").write_bytes(
            render_card(cards[0], style, decode_background(photo))
        )
        say(f"saved:   {args.save}/card.jpg and card-photo.jpg")
    decode = Figure(
        "  of which photo decode: median", statistics.median(decode_times), unit=" ms", spec=".1f"
    )
    return [
        *figures_for("card, no photo", plain_times, plain_sizes),
        *figures_for("card, 2000×1333 photo (decode+draw+encode)", photo_times, photo_sizes),
        decode,
    ]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.card_render", description=__doc__.splitlines()[0]
    )
    p.add_argument("--cards", type=positive_int, default=200, help="cards of each kind (200)")
    p.add_argument("--save", type=Path, metavar="DIR", help="write one card of each kind here")
    return p


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
