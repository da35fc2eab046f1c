"""What publishing a feed build's files costs the disk: the filesystem store's own publish.

    .venv/bin/python -m bench.artifact_writes [--root DIR] [--builds 500] [--size-kb 30]

Each build publishes four artifacts of `--size-kb` with their gzip variants (eight files,
as a feed build writes) under a newer watermark, through `FilesystemStore.publish`: every
file a temporary one, written and exchanged into place, the old one unlinked. The bodies
differ every build, as they do when a feed changes. Run it with `--root` on the artifact
volume's filesystem (ext4, tmpfs...) to see what a file costs there; creating one varies
with the filesystem's state and with what else writes to it, so run it while the stack
runs as well as on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.cli import positive_int, run_main
from bench.report import Figure, say

FORMATS = ("rss", "atom", "json", "html")


def run(args: argparse.Namespace) -> list[Figure]:
    from shared.store.artifacts import encode
    from shared.store.filesystem import FilesystemStore

    parent = str(args.root) if args.root else None
    with tempfile.TemporaryDirectory(prefix="newswire-writes-", dir=parent) as folder:
        store = FilesystemStore(Path(folder))
        filler = os.urandom(args.size_kb * 512).hex().encode()  # half random: gzip has work
        say(
            f"== artifact writes: {args.builds} builds of {len(FORMATS)} artifacts and their "
            f"gzip variants, {args.size_kb} KB each, under {folder}"
        )
        cpu, wall = [], []
        for build in range(1, args.builds + 1):
            head = f"<feed build='{build}'>".encode()
            artifacts = [encode(f"feeds/sections/olcum.{fmt}", head + filler) for fmt in FORMATS]
            started_cpu, started = time.process_time(), time.perf_counter()
            store.publish("feed:section:olcum", artifacts, f"{build}-0")
            cpu.append(time.process_time() - started_cpu)
            wall.append(time.perf_counter() - started)
        store.close()
    files = 2 * len(FORMATS)
    cpu.sort()
    wall.sort()
    median_cpu, median_wall = cpu[len(cpu) // 2], wall[len(wall) // 2]
    return [
        Figure(
            "a build's files published: median (wall)",
            median_wall * 1000,
            unit=" ms",
            spec=".2f",
            note=f"(p90 {wall[len(wall) * 9 // 10] * 1000:.2f} ms)",
        ),
        Figure(
            "a build's files published: median (CPU)", median_cpu * 1000, unit=" ms", spec=".2f"
        ),
        Figure("one file replaced, from the median (wall)", median_wall / files * 1e6, unit=" µs"),
    ]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.artifact_writes", description=__doc__.splitlines()[0]
    )
    p.add_argument(
        "--root", type=Path, help="the folder to write under (default: the system's temp folder)"
    )
    p.add_argument("--builds", type=positive_int, default=500, help="builds published (500)")
    p.add_argument("--size-kb", type=positive_int, default=30, help="each artifact's size (30)")
    return p


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
