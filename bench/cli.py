"""The benchmarks' command lines: argument types, the options they share, and their main."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from bench.report import Figure, print_table, say
from bench.stacks import StackFailed


def env_overrides(pairs: list[str]) -> dict[str, str]:
    """`NEWSWIRE_X=1` strings from `--env` into a dict.

    Raises:
        SystemExit: a pair is not NAME=VALUE.
    """
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.startswith("NEWSWIRE_"):
            raise SystemExit(f"--env takes NEWSWIRE_NAME=VALUE, not {pair!r}")
        out[name] = value
    return out


def positive(text: str) -> float:
    """An argparse type: a number above zero."""
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above zero, not {text}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number above zero."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above zero, not {text}")
    return value


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the services with py-spy during the measurement; write stacks to DIR",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NEWSWIRE_NAME=VALUE",
        help="a setting for the stack's processes (repeatable), e.g. "
        "NEWSWIRE_DEBOUNCE_WINDOW_MS=100",
    )


def add_ingest_only_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ingest-only",
        action="store_true",
        help="stop the dispatcher and worker first, to measure the ingest service alone "
        "(by default builds run meanwhile, as in production)",
    )


def run_main(
    run: Callable[[argparse.Namespace], list[Figure]],
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
) -> int:
    """Parse, run one benchmark, print its figures; a stack that fails to start exits 2."""
    args = parser.parse_args(argv)
    try:
        figures = run(args)
    except StackFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    say("")
    print_table(figures)
    return 0
