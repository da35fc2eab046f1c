"""`newswire dead-letters`: what was given up on (parked builds, unreadable articles, WebSub
deliveries), re-driving parked builds, and emptying the lists."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime

import redis

from services.cli.rebuild import request_rebuild
from services.render.pipeline.coordinator import Coordinator
from shared import websub
from shared.kinds.registry import Registry
from shared.settings import Settings
from shared.state.dead_letters import DeadLetters
from shared.websub import Subscriptions


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def _shown(shown: int, total: int) -> str:
    return str(total) if shown == total else f"{shown} of {total} (--limit)"


def print_dead_letters(
    client: redis.Redis, subscriptions: Subscriptions, letters: DeadLetters, limit: int
) -> int:
    """List the letters, newest first: as many as `newswire status` counts (by the same
    rule: stale article letters are dropped here, and left out of its count), or `limit`
    of each kind."""
    if limit < 1:
        raise ValueError("--limit must be at least 1")
    every_build, every_article = letters.builds(), letters.articles()
    builds, articles = every_build[:limit], every_article[:limit]
    for build in builds:
        print(f"{_when(build.at)}  build  {build.target}  {build.attempts} attempts")
        print(f"    {build.error}: {build.message}")
        print("    " + build.traceback.replace("\n", "\n    "))
    for article in articles:
        print(f"{_when(article.at)}  article  {article.article_id}  left out of every output")
        print(f"    {article.error}: {article.message}")
    if builds:
        print(
            f"{_shown(len(builds), len(every_build))} parked builds: fix the cause, then "
            "`newswire dead-letters retry <target>` (or --all); a letter goes once its "
            "target builds."
        )
    if articles:
        print(
            f"{_shown(len(articles), len(every_article))} unreadable articles: write each one "
            "again (PUT) and it comes back into its feeds; its letter goes then."
        )
    deliveries = subscriptions.dead_letters(limit)
    for letter in deliveries:
        print(f"{_when(letter.at)}  {letter.attempts} attempts  {letter.reason}")
        print(f"    topic     {letter.topic}")
        print(f"    callback  {letter.callback}")
    if deliveries:
        print(
            f"{_shown(len(deliveries), client.llen(websub.DEAD))} WebSub deliveries given up "
            "on, newest first. A subscriber still subscribed gets its topic's next change."
        )
    if not (builds or articles or deliveries):
        print("no dead letters: no build, article or WebSub delivery has been given up on")
    else:
        print("`newswire dead-letters --clear` empties the lists.")
    return 0


def retry_builds(
    client: redis.Redis,
    settings: Settings,
    registry: Registry,
    targets: Sequence[str],
    every: bool,
) -> int:
    """Re-drive parked targets: their failures start over and each is owed a build."""
    letters = DeadLetters(client)
    if every == bool(targets):
        raise ValueError("name the targets to retry, or pass --all (not both)")
    for target in targets:
        registry.kind(target)  # a ValueError names a bad one
    chosen = list(dict.fromkeys(targets)) or [letter.target for letter in letters.builds()]
    if not chosen:
        print("no parked builds to retry")
        return 0
    Coordinator(client, settings).reset_failures(chosen)
    request_rebuild(client, settings, chosen)
    print(
        f"retrying {len(chosen)} targets; each one's letter goes once it builds "
        "(`newswire dead-letters` shows what is still parked)"
    )
    return 0


def clear_dead_letters(subscriptions: Subscriptions, letters: DeadLetters) -> int:
    cleared = subscriptions.clear_dead_letters() + letters.clear()
    print(f"cleared {cleared} dead letters")
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    client = redis.Redis.from_url(settings.redis_url)
    if args.action == "retry":
        registry = Registry.from_settings(settings)
        return retry_builds(client, settings, registry, args.targets, args.all)
    if args.targets or args.all:
        raise ValueError("targets and --all go with `retry`: newswire dead-letters retry …")
    subscriptions, letters = Subscriptions(client, settings), DeadLetters(client)
    if args.clear:
        return clear_dead_letters(subscriptions, letters)
    return print_dead_letters(client, subscriptions, letters, args.limit)
