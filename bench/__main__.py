"""`make bench`: every benchmark of the speed targets in turn, then one summary table.

.venv/bin/python -m bench [--only NAME] [--batches N] [--duration S] [--rate R]

Each stack benchmark runs on a fresh stack; `serve` starts the feeds service and nginx on a
folder of its own; `feed-build` times the build functions in this process.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench import (
    batch_ingest,
    feed_build,
    health_under_outage,
    ingest_throughput,
    publish_latency,
    serve,
)
from bench.cli import add_stack_arguments, positive, positive_int
from bench.report import Figure, print_table, say
from bench.stacks import StackFailed

BENCHMARKS = {
    "serve": serve,
    "feed-build": feed_build,
    "ingest": ingest_throughput,
    "batch": batch_ingest,
    "latency": publish_latency,
    "health": health_under_outage,
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        help="run just this benchmark (repeatable); default: all",
    )
    p.add_argument("--connections", type=positive_int, help="keep-alive connections for PUTs (16)")
    p.add_argument("--batches", type=positive_int, help="batches of 1,000 to time (10)")
    p.add_argument(
        "--duration", type=positive, help="seconds of each timed run: PUTs, latency (10, 30)"
    )
    p.add_argument("--rate", type=positive, help="articles per second for latency (20)")
    add_stack_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    figures: list[Figure] = []
    started = time.monotonic()
    for name in args.only or list(BENCHMARKS):
        module = BENCHMARKS[name]
        # Each benchmark's own defaults, with whatever was given here laid over them.
        own = module.parser().parse_args([])
        for key, value in vars(args).items():
            if key != "only" and value is not None and hasattr(own, key):
                setattr(own, key, value)
        if args.profile is not None:
            own.profile = args.profile / name
        try:
            figures += module.run(own)
        except StackFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        say("")
    say(f"== summary ({time.monotonic() - started:.0f}s)")
    print_table(figures)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
