"""`newswire status`: one screen on what the stream, queues, targets and builds are doing.

Read-only and quick (a few pipelined round trips). `--json` prints the same as one JSON
object; `--watch [SECONDS]` draws it again every few seconds (2 by default) until Ctrl-C,
going on through a Redis outage (it says so) rather than stopping.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable
from typing import TextIO

import redis

from services.cli.settings_origin import SettingsOrigin
from services.cli.status_json import as_json
from services.cli.status_report import Status, read_status
from services.cli.status_screen import lines
from shared.settings import Settings

# Move to the top left and clear the screen (what `clear` prints).
CLEAR = "\033[H\033[2J"
# A status that hangs on a hung Redis helps no one: fail and say so (or, watching, retry).
_CONNECT_TIMEOUT_S = 2.0
_READ_TIMEOUT_S = 5.0
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def show(status: Status, as_json_object: bool) -> str:
    if as_json_object:
        return json.dumps(as_json(status), ensure_ascii=False) + "\n"
    return "\n".join(lines(status)) + "\n"


def watch(
    read: Callable[[], Status],
    every_s: float,
    as_json_object: bool,
    origin: SettingsOrigin,
    out: TextIO,
) -> int:
    """Draw the status every `every_s` seconds until Ctrl-C or SIGTERM (then exit 0). As
    JSON, one object per line and no screen clearing, for scripts that follow it.

    The signals set a flag rather than raise: a frame being read or written is finished,
    never cut off mid-write, and the loop ends before the next one.
    """
    stopped: list[int] = []  # a plain list: a handler must take no lock the loop may hold
    previous = {
        sig: signal.signal(sig, lambda sig, _: stopped.append(sig)) for sig in _STOP_SIGNALS
    }
    try:
        while not stopped:
            try:
                frame = show(read(), as_json_object)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                said = origin.cannot_reach(exc)
                frame = (
                    json.dumps({"error": said}) + "\n"
                    if as_json_object
                    else f"{said}\nTrying again every {every_s:g} s (Ctrl-C stops).\n"
                )
            out.write(frame if as_json_object else CLEAR + frame)
            if not as_json_object:
                out.write(f"every {every_s:g} s, {time.strftime('%H:%M:%S')}; Ctrl-C stops\n")
            out.flush()
            until = time.monotonic() + every_s
            while not stopped and (left := until - time.monotonic()) > 0:
                time.sleep(min(left, 0.1))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not as_json_object:
        out.write("\n")
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    origin: SettingsOrigin = args.origin  # where `settings` came from, for the first line
    if args.watch is not None and args.watch <= 0:
        raise ValueError("--watch takes a number of seconds above 0, e.g. --watch 2")
    options = {"socket_connect_timeout": _CONNECT_TIMEOUT_S, "socket_timeout": _READ_TIMEOUT_S}
    client = redis.Redis.from_url(settings.redis_url, **options)
    broker_url = settings.broker_url or settings.redis_url
    broker = (
        client if broker_url == settings.redis_url else redis.Redis.from_url(broker_url, **options)
    )

    def read() -> Status:
        return read_status(client, broker, origin)

    if args.watch is not None:
        return watch(read, args.watch, args.json, origin, sys.stdout)
    sys.stdout.write(show(read(), args.json))
    return 0
