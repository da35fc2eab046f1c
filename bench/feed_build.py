"""One feed's build in three formats, compressed, against a bare lxml RSS of the same items.

    .venv/bin/python -m bench.feed_build [--items 50] [--rounds 300] [--brotli-quality Q]
                                         [--same-bodies]

No stack is needed: this times the pure functions a feed build calls. The items are the
sample corpus's articles (`ArticleFactory`: full bodies, a section, three tags, an author,
an image on every other one), validated as ingest validates them and made into one `Feed`
with `build_feed`, as a worker does.

- bare lxml RSS: the same items written straight into an RSS 2.0 tree with lxml.etree
  (title, link, description, content:encoded, guid, categories, comments, enclosure,
  pubDate, dc:creator, media:content: what our RSS carries) and serialized, uncompressed.
  The floor: what any RSS of these items costs in Python.
- three-format build: RSS, Atom and JSON Feed from `RENDERERS`, each through
  `shared.store.artifacts.encode` with the gzip `formats.gzipped` makes from the compressed
  entries of the previous build (and brotli if `brotli_quality` asks for it: not by
  default), as the feed renderer does.
  - warm: what a worker does per publish. The entry cache holds the feed's 49 older items
    from the previous build; one new article is on top. Each round publishes another.
  - cold: the cache emptied before each round (a fresh worker, or every item new).

The target applies to the warm and the cold build alike. Each build is timed by the clock on
the wall and by the CPU time of the process; the bare RSS and the warm build alternate round
by round, so a machine whose speed drifts weighs on both sides of the ratio alike. The HTML page and
`build_feed` (the model) are timed alongside, for the record, and not counted in the ratio.

Every article gets a body of its own by default: the seed body with the words of each
paragraph shuffled (same language, markup and length, no long run shared with another
article), as real feeds carry distinct articles. `--same-bodies` gives every article the
seed body, as `ArticleFactory` makes them: gzip and brotli then find one article repeated
fifty times, which is cheaper and smaller than any real feed.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import os
import platform
import random
import re
import statistics
import time
from collections.abc import Callable
from email.utils import format_datetime
from functools import partial
from typing import TypeVar

from lxml import etree

from bench.articles import ArticleFactory
from bench.cli import positive_int, run_main
from bench.report import Figure, say
from services.render.feed import formats, model
from services.render.feed.formats import RENDERERS
from services.render.feed.model import Feed, FeedTarget, build_feed
from services.render.feed.page import render_html
from shared.article import Article
from shared.settings import Settings
from shared.store.artifacts import Artifact, encode

T = TypeVar("T")
TARGET_RATIO = 4.0
WARMUP = 20
FORMATS = tuple(RENDERERS)  # rss, atom, json
TARGET = FeedTarget("section", "dunya")
NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "media": "http://search.yahoo.com/mrss/",
}
_ATOM_LINK = f"{{{NS['atom']}}}link"
_ENCODED = f"{{{NS['content']}}}encoded"
_CREATOR = f"{{{NS['dc']}}}creator"
_MEDIA = f"{{{NS['media']}}}content"
_TAG = re.compile(r"(<[^>]+>)")


def varied_body(body: str, n: int) -> str:
    """`body` with the words of each paragraph shuffled (seeded by `n`): the same language,
    markup and length, but no long run shared with another article's body."""
    rng = random.Random(n)
    pieces = _TAG.split(body)
    for i in range(0, len(pieces), 2):  # text between tags; the tags stay as they are
        words = pieces[i].split(" ")
        rng.shuffle(words)
        pieces[i] = " ".join(words)
    return "".join(pieces)


def make_articles(count: int, varied: bool) -> list[Article]:
    """`count` corpus articles, oldest first, validated as ingest validates them."""
    factory = ArticleFactory(run="feedbuild")
    raw = [factory.make(n) for n in range(count)]
    if varied:
        for n, article in enumerate(raw):
            article["body_html"] = varied_body(article["body_html"], n)
    return [Article.model_validate(a, context={"default_language": "tr"}) for a in raw]


def bare_rss(feed: Feed) -> bytes:
    """RSS 2.0 of `feed` written directly with lxml: no library, no cache, no escaping rules."""
    sub = etree.SubElement
    rss = etree.Element("rss", version="2.0", nsmap=NS)
    channel = sub(rss, "channel")
    sub(channel, "title").text = feed.title
    sub(channel, "link").text = feed.home_url
    sub(channel, "description").text = feed.description
    sub(channel, _ATOM_LINK, href=feed.self_urls["rss"], rel="self", type="application/rss+xml")
    sub(channel, _ATOM_LINK, href=feed.hub_url, rel="hub")
    sub(channel, "generator").text = "Newswire"
    sub(channel, "language").text = feed.language
    sub(channel, "lastBuildDate").text = format_datetime(feed.updated)
    for item in feed.items:
        element = sub(channel, "item")
        sub(element, "title").text = item.title
        sub(element, "link").text = item.url
        sub(element, "description").text = item.summary
        sub(element, _ENCODED).text = item.content_html
        sub(element, "guid", isPermaLink="false").text = item.guid
        for category in item.categories:
            sub(element, "category", domain=category.scheme).text = category.term
        if item.comments_url:
            sub(element, "comments").text = item.comments_url
        if item.image:
            sub(element, "enclosure", url=item.image.url, length="0", type=item.image.media_type)
        sub(element, "pubDate").text = format_datetime(item.published)
        for person in item.authors:
            sub(element, _CREATOR).text = person.name
        if item.image:
            sub(element, _MEDIA, url=item.image.url, type=item.image.media_type, medium="image")
    return etree.tostring(rss, xml_declaration=True, encoding="UTF-8")


def timed(splits: dict[str, list[float]], name: str, call: Callable[[], T]) -> T:
    """Run `call`, adding its milliseconds (on the wall) to `splits[name]`."""
    started = time.perf_counter()
    result = call()
    splits.setdefault(name, []).append((time.perf_counter() - started) * 1000)
    return result


def clocked(splits: dict[str, list[float]], name: str, call: Callable[[], T]) -> T:
    """Run `call`, adding its wall milliseconds to `splits[name]` and the process's CPU
    milliseconds (every thread's) to `splits[name + " cpu"]`."""
    cpu = time.process_time()
    result = timed(splits, name, call)
    splits.setdefault(f"{name} cpu", []).append((time.process_time() - cpu) * 1000)
    return result


def three_formats(feed: Feed, quality: int, splits: dict[str, list[float]]) -> dict[str, int]:
    """Render and encode RSS, Atom and JSON Feed as a worker does; the sizes written."""

    def build() -> dict[str, int]:
        sizes = {}
        for fmt, render in RENDERERS.items():
            body = timed(splits, fmt, partial(render, feed))
            path = TARGET.path(fmt)
            artifact = timed(splits, f"encode {fmt}", partial(compress, path, body, quality))
            sizes[fmt] = len(body)
            sizes[f"{fmt}.gz"] = len(artifact.gzip or b"")
            sizes[f"{fmt}.br"] = len(artifact.br or b"")
        return sizes

    return clocked(splits, "total", build)


def compress(path: str, body: bytes, quality: int) -> Artifact:
    return encode(path, body, quality, gzip=formats.gzipped(body))


def clear_caches() -> None:
    formats.ENTRY_CACHE.clear()
    formats.GZIP_GROUPS.clear()
    model.ITEM_CACHE.clear()


def html_page(feed: Feed, quality: int) -> Artifact:
    return encode(TARGET.path("html"), render_html(feed), quality)


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[8] if len(values) > 1 else values[0]


def ratio_figure(label: str, clock: str, ratio: float) -> Figure:
    """The three-format build's median over the bare RSS's, held to the target."""
    return Figure(
        f"three-format build / bare lxml RSS ({label}, {clock})",
        ratio,
        unit="×",
        spec=".1f",
        at_most=TARGET_RATIO,
    )


def run(args: argparse.Namespace) -> list[Figure]:
    settings = Settings()
    quality = settings.brotli_quality if args.brotli_quality is None else args.brotli_quality
    items, rounds = args.items, args.rounds
    # Oldest first: window i is the feed after article i + items - 1 was published.
    articles = make_articles(items + WARMUP + rounds, not args.same_bodies)

    def feed_at(i: int) -> Feed:
        return build_feed(TARGET, articles[i : i + items][::-1], "Dünya", settings)

    say(f"machine: {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python "
        f"{platform.python_version()}, lxml {'.'.join(map(str, etree.LXML_VERSION))}, load "
        f"average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    bodies = "one body for all (ArticleFactory)" if args.same_bodies else "distinct bodies"
    say(f"feed:    {items} items, {bodies}, {rounds} rounds, brotli quality {quality}")

    # (a) the floor, a bare lxml RSS, and (b) the warm build, of the same items, round by
    # round: this machine's speed drifts over minutes, and both sides of the ratio must see
    # the same machine. Warm: the previous build filled the caches; one new article per round.
    clear_caches()
    bare: dict[str, list[float]] = {}
    warm: dict[str, list[float]] = {}
    model: dict[str, list[float]] = {}
    page: dict[str, list[float]] = {}
    gc.collect()
    for i in range(WARMUP + rounds):
        counted = i >= WARMUP
        feed = timed(model, "model", partial(feed_at, i))
        clocked(bare if counted else {}, "bare", partial(bare_rss, feed))
        sizes = three_formats(feed, quality, warm if counted else {})
        timed(page, "html", partial(html_page, feed, quality))

    # (c) cold: nothing cached; the same feed each round.
    cold: dict[str, list[float]] = {}
    gc.collect()
    for i in range(WARMUP + rounds):
        clear_caches()
        three_formats(feed, quality, cold if i >= WARMUP else {})

    say("")
    say(f"{'ms':34} {'median':>7} {'p90':>7}")
    rows = [("bare lxml RSS (uncompressed)", bare["bare"]), ("  CPU", bare["bare cpu"])]
    for label, splits in (("warm", warm), ("cold", cold)):
        rows.append((f"three-format build, {label}", splits["total"]))
        rows.append(("  CPU (all threads)", splits["total cpu"]))
        rows += [(f"  render {fmt}", splits[fmt]) for fmt in FORMATS]
        encoded = [sum(x) for x in zip(*(splits[f"encode {f}"] for f in FORMATS), strict=True)]
        rows.append((f"  compress all three ({'gzip + br' if quality else 'gzip'})", encoded))
    rows += [("not counted: build_feed (model)", model["model"][WARMUP:])]
    rows += [("not counted: HTML page + encode", page["html"][WARMUP:])]
    for label, values in rows:
        say(f"{label:34} {statistics.median(values):7.2f} {p90(values):7.2f}")
    say("bytes:   " + ", ".join(f"{name} {size:,}" for name, size in sizes.items() if size))
    compressed = {kind: sum(sizes[f"{fmt}.{kind}"] for fmt in FORMATS) for kind in ("gz", "br")}
    whole = sum(len(gzip.compress(RENDERERS[f](feed), compresslevel=6, mtime=0)) for f in FORMATS)
    growth = (compressed["gz"] / whole - 1) * 100
    brotli = f", the three .br {compressed['br']:,}" if quality else ""
    say(f"         the three .gz {compressed['gz']:,} (zlib -6 of each whole body: {whole:,}, "
        f"{growth:+.1f}%){brotli}")  # fmt: skip

    figures = []
    say("")
    for clock, suffix in (("wall", ""), ("CPU", " cpu")):
        base = statistics.median(bare[f"bare{suffix}"])
        figures.append(Figure(f"bare lxml RSS: median ({clock})", base, unit=" ms", spec=".2f"))
        for label, splits in (("warm", warm), ("cold", cold)):
            median = statistics.median(splits[f"total{suffix}"])
            judged = ratio_figure(label, clock, median / base)
            say(f"{judged.name:54} {judged.text:>5}   target {judged.target}: {judged.verdict}")
            figures += [
                Figure(
                    f"three-format build, {label}: median ({clock})", median, unit=" ms", spec=".2f"
                ),
                judged,
            ]
    figures.insert(
        2,
        Figure("three-format build, warm: p90 (wall)", p90(warm["total"]), unit=" ms", spec=".2f"),
    )
    return figures


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.feed_build", description=__doc__.splitlines()[0]
    )
    p.add_argument("--items", type=positive_int, default=50, help="items in the feed (50)")
    p.add_argument("--rounds", type=positive_int, default=300, help="builds timed (300)")
    p.add_argument(
        "--brotli-quality",
        type=int,
        choices=range(12),
        metavar="Q",
        help="brotli quality to try (default: the setting's default)",
    )
    bodies = p.add_mutually_exclusive_group()
    bodies.add_argument(
        "--same-bodies",
        action="store_true",
        help="give every article the seed body, as ArticleFactory makes them: the "
        "compressors find one article repeated, cheap and small, unlike any real feed",
    )
    bodies.add_argument(
        "--varied-bodies",
        action="store_false",
        dest="same_bodies",
        help="a body of its own for every article (the default)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
