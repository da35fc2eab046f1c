"""`newswire status` as text: one 80-column screen.

Each line is a label and a value two spaces apart, so scripts can split it (`--json` is
the format meant for them); the first names the Redis read, and what looks wrong comes
last, with what to do.
"""

from __future__ import annotations

import textwrap

from services.cli.status_report import DispatcherState, Status
from shared import priorities

WIDTH = 80
LABEL_WIDTH = 33
SHOWN_READERS = 3


def lines(status: Status) -> list[str]:
    """The screen, as lines of at most WIDTH characters."""
    b, now = status.backlog, status.backlog.now_ms / 1000
    rows = _redis_rows(status.redis, f"({status.redis_from})")
    memory = _bytes(status.memory)
    if status.max_memory:
        memory += f" of {_bytes(status.max_memory)} ({status.memory / status.max_memory:.0%})"
    rows.append(("server", f"{status.server}, {memory} used"))
    up_s = status.uptime_ms // 1000  # the server says it to the second
    rows.append(("server started", f"{up_s} s ago" if up_s < 60 else f"{ago(up_s)} ago"))
    rows.append(("articles (published or embargoed)", str(status.articles)))
    rows.append(("events in the stream", str(b.stream_length)))
    unread = f"{b.lag}{'+' if b.lag_counted_to_limit else ''}"
    if b.oldest_unread_ms is not None:
        unread += f" (the oldest from {ago(b.oldest_unread_ms / 1000)} ago)"
    rows.append(("events not yet read (lag)", unread))
    pending = str(b.pending) if b.group else "no consumer group yet (start the dispatcher)"
    rows.append(("events read, not yet acknowledged", pending))
    for dispatcher in status.dispatchers[:SHOWN_READERS]:
        rows.append((f"dispatcher {dispatcher.name}", describe(dispatcher)))
    if len(status.dispatchers) > SHOWN_READERS:
        rows.append(("dispatchers not shown", str(len(status.dispatchers) - SHOWN_READERS)))
    for queue in dict.fromkeys(queue for queue, _ in b.queues):
        steps = {step: n for (q, step), n in b.queues.items() if q == queue}
        split = ", ".join(f"{priorities.NAMES.get(step, step)} {n}" for step, n in steps.items())
        rows.append((f"queue {queue}", f"{sum(steps.values())} waiting ({split})"))
    rows.append(("tasks taken by workers", str(b.reserved)))
    states = ("queued", "building", "cooling", "retrying")
    rows.append(("targets", ", ".join(f"{state} {b.targets.get(state, 0)}" for state in states)))
    rows.append(("builds finished", str(status.builds)))
    for kind, last in status.last.items():
        value = "none yet"
        if last is not None:
            value = f"{last.outcome} {ago(now - last.at)} ago, {last.target}"
        rows.append((f"last {kind} build", value))
    wakeup = "none" if status.next_wakeup_ms is None else f"in {status.next_wakeup_ms / 1000:.1f} s"
    rows.append(("scheduled wakeups", f"{status.wakeups} (next {wakeup})"))
    split = ", ".join(f"{kind} {n}" for kind, n in b.dead_letters.items())
    rows.append(("dead letters", f"{status.dead_letters} ({split})"))
    for letter in status.dead:
        said = f"{ago(now - letter.at)} ago {letter.kind} {letter.what}: {letter.why}"
        rows.append(("dead letter", said))
    for warning in status.warnings:
        rows.append(("WARNING", warning))
    return _table(rows)


def _redis_rows(url: str, source: str) -> list[tuple[str, str]]:
    """The Redis read, in full: on one line if it fits, else the URL over as many lines as
    it takes, and where it came from on the next."""
    if len(url) + 1 + len(source) <= _room():
        return [("redis", f"{url} {source}")]
    parts = [*textwrap.wrap(url, _room(), break_long_words=True), source]
    return [("redis", parts[0]), *[("", part) for part in parts[1:]]]


def _room() -> int:
    return WIDTH - LABEL_WIDTH - 2


def describe(d: DispatcherState) -> str:
    """Gone, or when it last read events; a time the server made up at its start (see
    status_report) is not shown as one."""
    said = f"{d.pending} pending"
    if d.gone and d.seen_ms is None:
        return f"{said}, gone (last read not known)"
    if d.gone and d.seen_ms is not None:
        return f"{said}, gone: no read for {ago(d.seen_ms / 1000)}"
    if d.last_read == "ago" and d.last_read_ms is not None:
        return f"{said}, last event read {ago(d.last_read_ms / 1000)} ago"
    if d.last_read == "never":
        return f"{said}, no event read yet"
    if d.last_read == "unknown":
        return f"{said}, last event read not known"
    return said


def _table(rows: list[tuple[str, str]]) -> list[str]:
    width = LABEL_WIDTH  # as wide as the longest label, which is always shown
    room = _room()
    found = []
    for label, value in rows:
        label = label if len(label) <= width else label[: width - 1] + "…"
        if label == "WARNING":  # said in full, over as many lines as it takes
            wrapped = textwrap.wrap(value, room, break_on_hyphens=False)
            found.append(f"{label:<{width}}  {wrapped[0]}")
            found += [f"{'':<{width}}  {more}" for more in wrapped[1:]]
            continue
        value = value if len(value) <= room else value[: room - 1] + "…"
        found.append(f"{label:<{width}}  {value}")
    return found


def ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    size = n / 1024
    for unit in ("KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            break
        size /= 1024
    return f"{size:.1f} {unit}"
