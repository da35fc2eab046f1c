"""`newswire superdesk`: Superdesk HTTP Push destinations (add, list, remove).

`add` prints the three values to paste into a Superdesk subscriber's HTTP Push destination.
The secret token is shown once; ingest checks every push against it, so a new destination
works at once and a removed one is refused at its next push.
"""

from __future__ import annotations

import argparse

import redis

from services.ingest.superdesk import destinations
from shared.settings import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    client = redis.Redis.from_url(settings.redis_url)
    try:
        if args.superdesk_command == "add":
            added = destinations.add(client, args.publisher)
            urls = destinations.urls(settings, added.id)
            print(f"resource_url: {urls.resource_url}")
            print(f"assets_url: {urls.assets_url}")
            print(f"secret_token: {added.secret}")
        elif args.superdesk_command == "list":
            found = destinations.listing(client)
            if not found:
                print("no destinations: `newswire superdesk add PUBLISHER` makes one")
            for destination in found:
                urls = destinations.urls(settings, destination.id)
                print(
                    f"{destination.id}  {destination.publisher}  {destination.created}  "
                    f"{urls.resource_url}"
                )
        else:
            removed = destinations.remove(client, args.destination)
            print(f"removed destination {removed.id} of publisher {removed.publisher}")
    finally:
        client.close()
    return 0
