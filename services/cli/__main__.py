"""`newswire`: the operator's command (import, rebuild, status, dead-letters, keys).

Settings come from the environment (NEWSWIRE_*), as for every service.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import redis
from tqdm import tqdm

from services.cli import api_keys, archive_import, dead_letters, rebuild
from services.cli.status import print_status
from services.render.pipeline.coordinator import Coordinator
from shared.kinds.registry import Registry
from shared.settings import Settings
from shared.state.article_reader import ArticleReader
from shared.state.dead_letters import DeadLetters
from shared.task_sender import TaskSender
from shared.websub import Subscriptions


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newswire", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    imp = commands.add_parser("import", help="load an NDJSON archive (one article per line)")
    imp.add_argument("file", type=Path, help="the archive, e.g. archive.ndjson")
    imp.add_argument("--publisher", required=True, help="the publisher the articles belong to")

    reb = commands.add_parser("rebuild", help="rebuild targets from stored state")
    reb.add_argument("targets", nargs="*", help="target names, e.g. feed:section:dunya")
    reb.add_argument("--kind", action="append", default=[], help="every target of a kind")
    reb.add_argument("--local", action="store_true", help="build here, not on the workers")
    reb.add_argument(
        "--wait", type=float, default=30.0, help="give up after this many seconds without progress"
    )

    commands.add_parser("status", help="the event stream, builds and wakeups at a glance")

    dead = commands.add_parser(
        "dead-letters", help="parked builds, unreadable articles, WebSub deliveries given up on"
    )
    dead.add_argument(
        "action", nargs="?", choices=["list", "retry"], default="list", help="default: list"
    )
    dead.add_argument("targets", nargs="*", help="retry: the parked targets to build again")
    dead.add_argument("--all", action="store_true", help="retry: every parked target")
    dead.add_argument("--limit", type=int, default=50, help="show at most this many, newest first")
    dead.add_argument("--clear", action="store_true", help="empty the lists")

    keys = commands.add_parser("keys", help="API keys of publishers")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser(
        "create", aliases=["new"], help="make a key for a publisher (its secret is shown once)"
    )
    create.add_argument("publisher")
    create.add_argument(
        "--scope", action="append", choices=api_keys.SCOPES, help="articles:write (default), admin"
    )
    key_commands.add_parser("list", help="every key: publisher, scopes, created, revoked")
    revoke = key_commands.add_parser("revoke", help="refuse a key from now on")
    revoke.add_argument("key", help="the key's id or a longer prefix of its digest")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    try:
        if args.command == "keys":
            return api_keys.run(args, settings)
        if args.command == "import":
            return _import(args, settings)
        if args.command == "rebuild":
            return _rebuild(args, settings)
        if args.command == "dead-letters":
            return _dead_letters(args, settings)
        return print_status(redis.Redis.from_url(settings.redis_url), settings)
    except redis.ConnectionError as exc:
        print(
            f"cannot reach Redis at {settings.redis_url} ({exc}). Is it running? "
            "Set NEWSWIRE_REDIS_URL to the right server.",
            file=sys.stderr,
        )
        return 2
    except (ValueError, rebuild.Stalled) as exc:
        print(f"newswire {args.command}: {exc}", file=sys.stderr)
        return 2


def _dead_letters(args: argparse.Namespace, settings: Settings) -> int:
    client = redis.Redis.from_url(settings.redis_url)
    if args.action == "retry":
        registry = Registry.from_settings(settings)
        return dead_letters.retry_builds(client, settings, registry, args.targets, args.all)
    if args.targets or args.all:
        raise ValueError("targets and --all go with `retry`: newswire dead-letters retry …")
    subscriptions, letters = Subscriptions(client, settings), DeadLetters(client)
    if args.clear:
        return dead_letters.clear_dead_letters(subscriptions, letters)
    return dead_letters.print_dead_letters(subscriptions, letters, args.limit)


def _import(args: argparse.Namespace, settings: Settings) -> int:
    if not args.file.is_file():
        raise ValueError(f"no such file: {args.file}")
    entries = Registry.from_settings(settings).entries
    report = archive_import.run_import(args.file, args.publisher, settings, entries)
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


def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    registry = Registry.from_settings(settings)
    client = redis.Redis.from_url(settings.redis_url)
    targets = rebuild.select_targets(registry, ArticleReader(client), args.targets, args.kind)
    if not targets:
        print("nothing to rebuild: no stored article touches these kinds")
        return 0
    since = rebuild.request_rebuild(client, settings, targets)
    with tqdm(total=len(targets), unit=" targets", desc="rebuild") as bar:
        if args.local:
            # Only a build in this process needs the renderers: other commands start quickly.
            from services.render.pipeline.celery_app import make_context

            # WebSub subscribers hear of what changed, through the workers' queue.
            send_task = TaskSender(settings.celery_broker_url)
            context = make_context(settings, lambda _: None, registry, send_task)
            rebuild.build_here(context, targets, since, bar)
        else:
            coordinator = Coordinator(client, settings)
            rebuild.wait_for_workers(coordinator, targets, since, bar, args.wait)
    print(f"rebuilt {len(targets)} targets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
