"""`newswire watch DIR`: import NewsML-G2 files as an agency delivers them into a spool folder.

Agencies deliver by FTP, and a file being uploaded is already there, half written. A file is
imported once it is complete: its size and modification time unchanged for `--settle`
seconds (an upload that writes under a temporary name and renames at the end is seen only
once renamed: names ending .part, .tmp, .filepart and hidden names are left alone). Each file
is then moved to DIR/done/, or to DIR/failed/ with NAME.reason.txt beside it, and named
with its outcome. Ctrl-C (or SIGTERM) stops it between two files."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import redis

from services.cli.newsml_import import BadDocument, import_file, summary, with_writer
from shared.settings import Settings
from shared.state.article_writer import ArticleWriter

DONE, FAILED = "done", "failed"
# How long to wait before trying again when Redis does not answer.
REDIS_RETRY_S = 5.0
_IN_PROGRESS = (".part", ".tmp", ".filepart", ".crdownload")


@dataclass
class _Seen:
    signature: tuple[int, int]  # (size, mtime_ns)
    since: float  # monotonic time it was first seen so


class Spool:
    """Which files of the folder are complete: unchanged for `settle` seconds."""

    def __init__(self, folder: Path, settle_s: float) -> None:
        self.folder = folder
        self.settle_s = settle_s
        self._seen: dict[Path, _Seen] = {}

    def complete(self, now: float) -> list[Path]:
        ready, present = [], set()
        for path in sorted(self.folder.iterdir()):
            if not _candidate(path):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:  # moved or renamed while we looked
                continue
            present.add(path)
            signature = (stat.st_size, stat.st_mtime_ns)
            seen = self._seen.get(path)
            if seen is None or seen.signature != signature:
                self._seen[path] = _Seen(signature, now)
            elif now - seen.since >= self.settle_s:
                ready.append(path)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return ready

    def forget(self, path: Path) -> None:
        self._seen.pop(path, None)


def _candidate(path: Path) -> bool:
    name = path.name
    return not name.startswith(".") and not name.lower().endswith(_IN_PROGRESS) and path.is_file()


def move_aside(path: Path, folder: Path) -> Path:
    """Move `path` into `folder`, under a new name if one of its name is there already."""
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    if target.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        target = folder / f"{path.stem}.{stamp}{path.suffix}"
    return path.replace(target)


async def watch(
    folder: Path,
    writer: ArticleWriter,
    publisher: str,
    settings: Settings,
    settle_s: float,
    interval_s: float,
    stop: asyncio.Event,
) -> None:
    spool = Spool(folder, settle_s)
    while not stop.is_set():
        pause = interval_s
        for path in spool.complete(time.monotonic()):
            if stop.is_set():
                break
            if not await _import_one(path, folder, writer, publisher, settings):
                pause = max(interval_s, REDIS_RETRY_S)
                break
            spool.forget(path)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)


async def _import_one(
    path: Path, folder: Path, writer: ArticleWriter, publisher: str, settings: Settings
) -> bool:
    """Import one file and move it aside; False if Redis did not answer (the file stays)."""
    try:
        results = await import_file(path, writer, publisher, settings)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        # Not the file's fault: it stays in the spool and is tried again.
        print(
            f"cannot reach Redis ({exc}): check NEWSWIRE_REDIS_URL; {path.name} stays and is "
            f"tried again in {REDIS_RETRY_S:g} s",
            file=sys.stderr,
            flush=True,
        )
        return False
    except (BadDocument, OSError) as exc:
        moved = move_aside(path, folder / FAILED)
        moved.with_name(moved.name + ".reason.txt").write_text(f"{exc}\n", encoding="utf-8")
        print(f"failed {path.name}: {exc} (moved to {FAILED}/)", file=sys.stderr, flush=True)
        return True
    move_aside(path, folder / DONE)
    statuses = Counter(result["status"] for result in results)
    print(f"imported {path.name}: {summary(statuses)}", flush=True)
    return True


def run(args: argparse.Namespace, settings: Settings) -> int:
    folder: Path = args.dir
    if not folder.is_dir():
        raise ValueError(f"no such folder: {folder}: create it, or name the agency's spool folder")

    async def work(writer: ArticleWriter) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        print(
            f"watching {folder} for NewsML-G2 files (complete after {args.settle:g} s "
            f"unchanged; done/ and failed/ beside them); Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        await watch(folder, writer, args.publisher, settings, args.settle, args.interval, stop)

    with_writer(settings, work)
    print("newswire watch: stopped", file=sys.stderr)
    return 0
