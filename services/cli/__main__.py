"""`newswire`: the operator's command (import, rebuild, status, dead-letters, keys, names).

Settings come from the environment (NEWSWIRE_*), as for every service, and then from
var/newswire.env where it runs: `make run` writes that file in its checkout while its stack
runs, so the command finds that stack with nothing set. The environment wins.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module
from pathlib import Path

import redis
from pydantic import ValidationError

from services.cli.settings_origin import ENV_FILE, load_settings
from shared.api_keys import SCOPES

# Each command's module, imported only when it runs: `newswire status` need not load what
# `newswire import` validates with, and no command but a local rebuild loads a renderer.
COMMANDS = {
    "keys": "services.cli.api_keys",
    "import": "services.cli.archive_import",
    "rebuild": "services.cli.rebuild",
    "status": "services.cli.status",
    "dead-letters": "services.cli.dead_letters",
    "names": "services.cli.names",
    "superdesk": "services.cli.superdesk",
    "watch": "services.cli.watch",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newswire", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    imp = commands.add_parser("import", help="load an NDJSON archive or NewsML-G2 files")
    imp.add_argument(
        "file", type=Path, help="the archive, e.g. archive.ndjson; newsml-g2: a file or folder"
    )
    imp.add_argument("--publisher", required=True, help="the publisher the articles belong to")
    imp.add_argument(
        "--format", choices=["ndjson", "newsml-g2"], default="ndjson", help="default: ndjson"
    )

    watch = commands.add_parser("watch", help="import NewsML-G2 files as they arrive in DIR")
    watch.add_argument("dir", type=Path, help="the spool folder the agency delivers into")
    watch.add_argument("--publisher", required=True, help="the publisher the articles belong to")
    watch.add_argument(
        "--settle", type=float, default=2.0, help="seconds a file must stay unchanged (2)"
    )
    watch.add_argument("--interval", type=float, default=0.5, help="seconds between looks (0.5)")

    reb = commands.add_parser("rebuild", help="rebuild targets from stored state")
    reb.add_argument("targets", nargs="*", help="target names, e.g. feed:section:dunya")
    reb.add_argument("--kind", action="append", default=[], help="every target of a kind")
    reb.add_argument("--local", action="store_true", help="build here, not on the workers")
    reb.add_argument(
        "--wait", type=float, default=30.0, help="give up after this many seconds without progress"
    )

    status = commands.add_parser("status", help="the event stream, builds and wakeups at a glance")
    status.add_argument("--json", action="store_true", help="one JSON object, for scripts")
    status.add_argument(
        "--watch",
        nargs="?",
        type=float,
        const=2.0,
        metavar="SECONDS",
        help="draw it again every SECONDS (2) until Ctrl-C",
    )

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
        "--scope", action="append", choices=SCOPES, help="articles:write (default), admin"
    )
    key_commands.add_parser("list", help="every key: publisher, scopes, created, revoked")
    revoke = key_commands.add_parser("revoke", help="refuse a key from now on")
    revoke.add_argument("key", help="the key's id or a longer prefix of its digest")

    names = commands.add_parser("names", help="display names of sections, tags and authors")
    name_commands = names.add_subparsers(dest="names_command", required=True)
    listing = name_commands.add_parser("list", help="every named feed: its name and its source")
    listing.add_argument("--json", action="store_true", help="one JSON object, for scripts")
    for action, text in (("set", "show a feed under a name"), ("unset", "drop the admin's name")):
        name = name_commands.add_parser(action, help=text)
        name.add_argument("kind", choices=["section", "tag", "author"])
        name.add_argument("slug", help="the feed's slug, as in its URL: secim-masasi")
        if action == "set":
            name.add_argument("name", help='the name readers see: "Seçim Masası"')
        name.add_argument("--publisher", help="an author feed of this publisher, not the site's")

    superdesk = commands.add_parser("superdesk", help="Superdesk HTTP Push destinations")
    superdesk_commands = superdesk.add_subparsers(dest="superdesk_command", required=True)
    add = superdesk_commands.add_parser(
        "add", help="a destination pushing as PUBLISHER: prints its URLs and secret token"
    )
    add.add_argument("publisher", help="the publisher the pushed articles belong to")
    superdesk_commands.add_parser("list", help="every destination: id, publisher, created, URL")
    remove = superdesk_commands.add_parser("remove", help="refuse a destination's pushes")
    remove.add_argument("destination", help="its id, as `newswire superdesk list` shows it")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        origin = load_settings()
    except ValidationError as exc:
        read = f"the environment and {ENV_FILE}" if ENV_FILE.is_file() else "the environment"
        print(f"newswire: a setting in {read} is wrong: {exc}", file=sys.stderr)
        return 2
    # Say which Redis, unless the environment named it: a command may write there.
    if origin.env_file is not None:
        print(
            f"newswire: settings from {origin.env_file} (the environment's win); "
            f"Redis {origin.redis}",
            file=sys.stderr,
        )
    elif origin.redis_from == "default":
        print(f"newswire: Redis {origin.redis} ({origin.redis_source})", file=sys.stderr)
    args.origin = origin  # where the settings came from, for commands that show it
    try:
        return import_module(COMMANDS[args.command]).run(args, origin.settings)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        print(origin.cannot_reach(exc), file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"newswire {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
