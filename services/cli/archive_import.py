"""`newswire import`: bulk-load an NDJSON archive through the API's validation and write."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import orjson
import redis.asyncio
from tqdm import tqdm

from services.ingest.body_validation import validate_article
from services.ingest.errors import InvalidArticle
from shared.article import Article
from shared.kinds.registry import Registry
from shared.settings import Settings
from shared.state.article_writer import ArticleWriter, EntriesFor


@dataclass
class ImportReport:
    statuses: Counter[str] = field(default_factory=Counter)
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


def parse_line(line: str, settings: Settings) -> Article:
    """One archive line, validated exactly as `PUT /v1/articles/{id}` validates a body.

    Raises:
        InvalidArticle: the line is not JSON, or a field is wrong (each named).
    """
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InvalidArticle(f"not valid JSON: {exc}") from exc
    return validate_article(data, settings)


async def import_archive(
    lines: Iterator[tuple[int, str]],
    writer: ArticleWriter,
    publisher: str,
    settings: Settings,
    progress: tqdm,
    batch_size: int = 500,
) -> ImportReport:
    """Validate and write (line number, text) pairs in pipelined batches.

    A bad line is reported and skipped; each article is written in its own atomic step, so
    an interrupted import leaves whole articles only, and running it again is safe.
    """
    report, batch = ImportReport(), []
    for number, line in lines:
        try:
            batch.append(parse_line(line, settings))
        except InvalidArticle as exc:
            reason = "; ".join(f"{f['field']}: {f['message']}" for f in exc.fields) or exc.message
            report.invalid.append((number, reason))
            progress.write(f"line {number}: {reason}", file=sys.stderr)
            progress.update(1)
        if len(batch) >= batch_size:
            await _write(batch, writer, publisher, report, progress)
            batch = []
    if batch:
        await _write(batch, writer, publisher, report, progress)
    return report


async def _write(
    batch: list[Article], writer: ArticleWriter, publisher: str, report: ImportReport, bar: tqdm
) -> None:
    for result in await writer.upsert_many(batch, publisher):
        report.statuses[result.status] += 1
    bar.update(len(batch))


def numbered_lines(handle: TextIO) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(handle, start=1):
        if line.strip():
            yield number, line


def run_import(
    path: Path, publisher: str, settings: Settings, entries_for: EntriesFor
) -> ImportReport:
    """Import the archive at `path` for `publisher`, showing progress on stderr."""
    with path.open(encoding="utf-8") as handle:
        total = sum(1 for line in handle if line.strip())

    async def go() -> ImportReport:
        client = redis.asyncio.Redis.from_url(settings.redis_url)
        try:
            writer = ArticleWriter(client, settings, entries_for)
            with (
                path.open(encoding="utf-8") as handle,
                tqdm(total=total, unit=" articles", desc="import", smoothing=0.1) as bar,
            ):
                return await import_archive(
                    numbered_lines(handle), writer, publisher, settings, bar
                )
        finally:
            await client.aclose()

    return asyncio.run(go())


def run(args: argparse.Namespace, settings: Settings) -> int:
    if getattr(args, "format", "ndjson") == "newsml-g2":
        from services.cli import newsml_import  # loaded only for that format

        return newsml_import.run(args, settings)
    if not args.file.is_file():
        raise ValueError(f"no such file: {args.file}")
    entries = Registry.from_settings(settings).entries
    report = run_import(args.file, args.publisher, settings, entries)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(report.statuses.items()))
    print(f"imported: {counts or 'nothing'}; {len(report.invalid)} invalid lines skipped")
    if report.invalid:
        print(
            "fix the lines named above and import the file again: "
            "articles already stored come back as unchanged",
            file=sys.stderr,
        )
        return 1
    return 0
