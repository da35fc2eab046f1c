"""`newswire rebuild`: rebuild targets from stored state, by the workers or in this process.

Either way the request is an event on the stream (`targets.rebuild`), so a rebuild takes the
path every change takes: coordinated per target, never overwriting newer output.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace

import redis
from tqdm import tqdm

from services.render.pipeline.builds import BuildContext, build_target
from services.render.pipeline.coordinator import Coordinator
from shared.kinds.registry import Registry
from shared.settings import Settings
from shared.state.article_reader import ArticleReader
from shared.state.events import event_id_key
from shared.task_sender import TaskSender

_CHUNK = 1000  # targets per event


class Stalled(RuntimeError):
    """No build finished for a while; the message says what to check."""


def select_targets(
    registry: Registry, reader: ArticleReader, names: Sequence[str], kinds: Sequence[str]
) -> list[str]:
    """The named targets (checked), or every known target of `kinds` (default: all kinds).

    Raises:
        ValueError: a name is not a target, or a kind does not exist.
    """
    for name in names:
        registry.kind(name)
    if names:
        return list(dict.fromkeys(names))
    by_name = {kind.name: kind for kind in registry.kinds}
    unknown = set(kinds) - set(by_name)
    if unknown:
        raise ValueError(f"unknown kind {sorted(unknown)[0]!r}: kinds are {', '.join(by_name)}")
    return [t for k in (kinds or by_name) for t in by_name[k].known_targets(reader)]


def request_rebuild(
    client: redis.Redis, settings: Settings, targets: Sequence[str], chunk: int = _CHUNK
) -> str:
    """Append rebuild events for `targets`, a chunk each; returns the id of the first.

    A target's rebuild is done once a finished build covers an event at or after that id:
    such a build began after the request, so it read the state the request was about.
    """
    ids = []
    for start in range(0, len(targets), chunk):
        names = json.dumps(list(targets[start : start + chunk]))
        fields = {"type": "targets.rebuild", "id": "", "rev": 0, "targets": names}
        ids.append(client.xadd(settings.events_stream, fields))
    return ids[0].decode()


def wait_for_workers(
    coordinator: Coordinator, targets: Sequence[str], since: str, bar: tqdm, stall_s: float
) -> None:
    """Wait until every target has a finished build covering event `since`.

    Raises:
        Stalled: nothing finished for `stall_s` seconds.
    """
    pending, last_progress = set(targets), time.monotonic()
    while pending:
        done = {t for t, mark in coordinator.done_marks(pending) if _covers(mark, since)}
        if done:
            pending -= done
            bar.update(len(done))
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > stall_s:
            raise Stalled(
                f"no build finished in {stall_s:.0f} s ({len(pending)} targets left): are the "
                "dispatcher and a worker running? Start them (`make run`, or `docker compose up "
                "dispatcher worker`), or rebuild in this process with --local."
            )
        time.sleep(0.2)


def build_here(ctx: BuildContext, targets: Iterable[str], since: str, bar: tqdm) -> None:
    """Build each target in this process, then the follow-ups their outputs ask for."""
    queue = list(targets)
    follow_ups: list[str] = []
    local = replace(ctx, enqueue=follow_ups.append)
    while queue:
        for target in queue:
            ctx.coordinator.mark([(target, since)])
            build_target(target, local)
            bar.update(1)
        queue, follow_ups[:] = list(dict.fromkeys(follow_ups)), []
        bar.total += len(queue)


def _covers(mark: str | None, since: str) -> bool:
    return mark is not None and event_id_key(mark) >= event_id_key(since)


def run(args: argparse.Namespace, settings: Settings) -> int:
    registry = Registry.from_settings(settings)
    client = redis.Redis.from_url(settings.redis_url)
    targets = select_targets(registry, ArticleReader(client), args.targets, args.kind)
    if not targets:
        print("nothing to rebuild: no stored article touches these kinds")
        return 0
    since = request_rebuild(client, settings, targets)
    try:
        _build(args, settings, client, registry, targets, since)
    except Stalled as exc:
        print(f"newswire rebuild: {exc}", file=sys.stderr)
        return 2
    print(f"rebuilt {len(targets)} targets")
    return 0


def _build(
    args: argparse.Namespace,
    settings: Settings,
    client: redis.Redis,
    registry: Registry,
    targets: list[str],
    since: str,
) -> None:
    with tqdm(total=len(targets), unit=" targets", desc="rebuild") as bar:
        if args.local:
            # Only a build in this process needs the renderers: other commands start quickly.
            from services.render.pipeline.celery_app import make_context

            # WebSub subscribers hear of what changed, through the workers' queue.
            send_task = TaskSender(settings.celery_broker_url)
            context = make_context(settings, lambda _: None, registry, send_task)
            build_here(context, targets, since, bar)
        else:
            coordinator = Coordinator(client, settings)
            wait_for_workers(coordinator, targets, since, bar, args.wait)
