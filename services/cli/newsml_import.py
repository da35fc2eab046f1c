"""`newswire import --format newsml-g2 FILE|DIR`: load an agency's NewsML-G2 drop, file by
file, through the same parsing, mapping, validation and write as `POST /v1/newsml-g2`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio
from tqdm import tqdm

from services.ingest.errors import ApiError
from services.ingest.newsml_g2.ingest import prepare, store
from shared.kinds.registry import Registry
from shared.settings import Settings
from shared.state.article_writer import ArticleWriter


class BadDocument(ValueError):
    """A file that cannot be imported as it is; the message says why and what to fix."""


@dataclass
class FilesReport:
    statuses: Counter[str] = field(default_factory=Counter)  # over text items
    failed: list[tuple[Path, str]] = field(default_factory=list)  # (file, reason)


def documents_in(path: Path) -> list[Path]:
    """`path` itself, or every file beneath the folder (hidden ones left out), sorted."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ValueError(f"no such file or folder: {path}")
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def reason(exc: ApiError) -> str:
    """An API error as one line: its fields when it names them."""
    return "; ".join(f"{f['field']}: {f['message']}" for f in exc.fields) or exc.message


async def import_file(
    path: Path, writer: ArticleWriter, publisher: str, settings: Settings
) -> list[dict[str, Any]]:
    """Import one document: one result per text item (as the API answers).

    Raises:
        BadDocument: over the request body limit, unsafe or not NewsML-G2, or an item is
            invalid; nothing of the file is stored then.
    """
    size = path.stat().st_size
    if size > settings.max_request_bytes:
        raise BadDocument(
            f"{size} bytes, over NEWSWIRE_MAX_REQUEST_BYTES ({settings.max_request_bytes}): "
            "ask the agency to split it"
        )
    document = path.read_bytes()
    now = datetime.now(UTC)
    try:
        prepared = await asyncio.to_thread(prepare, document, settings, now)
    except ApiError as exc:
        raise BadDocument(reason(exc)) from None
    return await store(prepared, writer, publisher)


def summary(statuses: Counter[str]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())) or "nothing"


async def import_files(
    paths: list[Path],
    writer: ArticleWriter,
    publisher: str,
    settings: Settings,
    progress: tqdm,
) -> FilesReport:
    report = FilesReport()
    for path in paths:
        try:
            for result in await import_file(path, writer, publisher, settings):
                report.statuses[result["status"]] += 1
        except (BadDocument, OSError) as exc:
            report.failed.append((path, str(exc)))
            progress.write(f"{path}: {exc}", file=sys.stderr)
        progress.update(1)
    return report


def with_writer(settings: Settings, work: Callable[[ArticleWriter], Any]) -> Any:
    """Run `work(writer)` (a coroutine) on a writer of the settings' Redis."""

    async def go() -> Any:
        client = redis.asyncio.Redis.from_url(settings.redis_url)
        try:
            entries = Registry.from_settings(settings).entries
            return await work(ArticleWriter(client, settings, entries))
        finally:
            await client.aclose()

    return asyncio.run(go())


def run(args: argparse.Namespace, settings: Settings) -> int:
    paths = documents_in(args.file)

    async def work(writer: ArticleWriter) -> FilesReport:
        with tqdm(total=len(paths), unit=" files", desc="import", smoothing=0.1) as bar:
            return await import_files(paths, writer, args.publisher, settings, bar)

    report: FilesReport = with_writer(settings, work)
    print(
        f"imported {len(paths) - len(report.failed)} of {len(paths)} files: "
        f"{summary(report.statuses)}; {len(report.failed)} files failed"
    )
    if report.failed:
        print(
            "fix the files named above and import them again: "
            "articles already stored come back as unchanged",
            file=sys.stderr,
        )
        return 1
    return 0
