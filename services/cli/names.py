"""`newswire names`: the display names of sections, tags and authors, which belong to the site.

`set` gives a feed the name an admin chose; it wins over NEWSWIRE_DISPLAY_NAMES, which wins
over the name the site publisher's first article in the feed gave it (see
shared/state/display_names.py). `unset` drops the admin's name. Either change is stored with
an event, so the workers rebuild the feed and the index page, as after any write.
"""

from __future__ import annotations

import argparse
import json

import redis

from shared.kinds.feed import FeedTarget, named_target, renamed
from shared.settings import Settings
from shared.state.display_names import AdminNames


def run(args: argparse.Namespace, settings: Settings) -> int:
    names = AdminNames(redis.Redis.from_url(settings.redis_url), settings)
    if args.names_command == "list":
        named = names.every()
        if args.json:
            rows = [{"target": n.target, "name": n.name, "source": n.source} for n in named]
            print(json.dumps({"names": rows}, ensure_ascii=False))
        elif not named:
            print("no feed is named yet: `newswire names set KIND SLUG NAME` names one")
        for feed in [] if args.json else named:
            print(f"{feed.target}\t{feed.name}\t({feed.source})")
        return 0
    target = _target(args, settings)
    if args.names_command == "set":
        change = names.set(target.name, args.name, renamed(target))
    else:
        change = names.unset(target.name, renamed(target))
    shown = names.shown(target.name)
    if change.status == "unchanged":
        print(f"{target.name}: unchanged; it shows {_shown(shown, target)}")
    else:
        print(f"{target.name}: {change.status}; it shows {_shown(shown, target)} once rebuilt")
    return 0


def _target(args: argparse.Namespace, settings: Settings) -> FeedTarget:
    publisher = args.publisher
    if publisher is not None and publisher == settings.site_publisher:
        publisher = None  # the site's own author feed
    return named_target(args.kind, args.slug, publisher)


def _shown(name: str | None, target: FeedTarget) -> str:
    return repr(name) if name else f"its slug {target.slug!r}"
