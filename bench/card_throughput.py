"""Social cards per second with one and with two card workers.

    .venv/bin/python -m bench.card_throughput [--cards 400]

For each worker count, on a fresh stack: load `--cards` articles of the last day, each with a
2000×1333 photo on a local image server, then time `newswire rebuild --kind card` on the
real card workers: every card fetched through the guarded fetcher, decoded, drawn, encoded
and published. Render time alone is `bench.card_render`.
"""

from __future__ import annotations

import argparse

from bench.archive import archive, load_pipelined, pause_builders, resume_builders, timed_rebuild
from bench.articles import ArticleFactory
from bench.cli import add_stack_arguments, env_overrides, positive_int, run_main
from bench.cpu import CpuMeter
from bench.image_server import ALLOW, image_server
from bench.report import Figure, say
from bench.stacks import running_stack, start_extra_workers

TARGET_RATIO = 1.8


def cards_per_second(workers: int, args: argparse.Namespace, images: str) -> float:
    overrides = {
        "NEWSWIRE_FETCH_ALLOW_NETWORKS": ALLOW,
        "NEWSWIRE_BUILD_LEASE_MS": "120000",
        **env_overrides(args.env),
    }
    with running_stack(overrides) as stack:
        pause_builders(stack)
        factory = ArticleFactory(run=f"c{workers}")
        load_pipelined(stack, archive(args.cards, factory, images, years=1 / 365), args.cards)
        resume_builders(stack)
        start_extra_workers(stack, workers - 1, "card-worker")
        meter = CpuMeter(stack).start()
        seconds = timed_rebuild(stack, "card")
        say(meter.stop().line())
    rate = args.cards / seconds
    say(f"{workers} card worker(s): {args.cards} cards in {seconds:.1f} s, {rate:.1f} cards/s")
    return rate


def run(args: argparse.Namespace) -> list[Figure]:
    with image_server() as images:
        one = cards_per_second(1, args, images)
        two = cards_per_second(2, args, images)
    ratio = two / one
    return [
        Figure("cards/s, 1 card worker", one, spec=".1f"),
        Figure("cards/s, 2 card workers", two, spec=".1f"),
        Figure("2 workers ÷ 1", ratio, spec=".2f", at_least=TARGET_RATIO),
    ]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.card_throughput", description=__doc__)
    p.add_argument("--cards", type=positive_int, default=400, help="cards to build (400)")
    add_stack_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
