"""`make bench`: every benchmark in turn, each on a fresh stack, then one summary table.

.venv/bin/python -m bench [--requests N] [--batches N] [--duration S] [--rate R]
"""

from __future__ import annotations

import argparse
import sys
import time

from bench import batch_ingest, ingest_throughput, publish_latency
from bench.common import (
    Figure,
    StackFailed,
    add_stack_arguments,
    positive,
    positive_int,
    print_table,
    say,
)

BENCHMARKS = {
    "ingest": ingest_throughput,
    "batch": batch_ingest,
    "latency": publish_latency,
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        help="run just this benchmark (repeatable); default: all",
    )
    p.add_argument("--requests", type=positive_int, help="single PUTs to time (5000)")
    p.add_argument("--connections", type=positive_int, help="keep-alive connections for PUTs (6)")
    p.add_argument("--batches", type=positive_int, help="batches of 1,000 to time (10)")
    p.add_argument("--duration", type=positive, help="seconds of publishing for latency (30)")
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
