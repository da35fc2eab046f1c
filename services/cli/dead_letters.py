"""`newswire dead-letters`: WebSub deliveries given up on, newest first, and emptying the list."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.websub import Subscriptions


def print_dead_letters(subscriptions: Subscriptions, limit: int) -> int:
    if limit < 1:
        raise ValueError("--limit must be at least 1")
    letters = subscriptions.dead_letters(limit)
    if not letters:
        print("no dead letters: no WebSub delivery has been given up on")
        return 0
    for letter in letters:
        at = datetime.fromtimestamp(letter.at, UTC).isoformat(timespec="seconds")
        print(f"{at}  {letter.attempts} attempts  {letter.reason}")
        print(f"    topic     {letter.topic}")
        print(f"    callback  {letter.callback}")
    print(
        f"{len(letters)} shown, newest first. A subscriber still subscribed gets its topic's next "
        "change; `newswire dead-letters --clear` empties the list."
    )
    return 0


def clear_dead_letters(subscriptions: Subscriptions) -> int:
    print(f"cleared {subscriptions.clear_dead_letters()} dead letters")
    return 0
