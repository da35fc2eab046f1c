"""Trimming the event stream never drops an entry a consumer group has not acknowledged;
the length cap is a target reached once the groups catch up. Real Redis, real dispatcher."""

from __future__ import annotations

import random
import time
from typing import Any

import redis

from services.render.pipeline.coordinator import Coordinator
from services.render.pipeline.dispatcher import Dispatcher
from shared.kinds.registry import Registry
from shared.state import stream_trim

CAP = 5


def article(raw: dict[str, Any], n: int) -> dict[str, Any]:
    return {**raw, "id": f"trim-{n}", "title": f"Kısa haber {n}"}


def ids(client: redis.Redis, stream: str) -> list[bytes]:
    return [entry_id for entry_id, _ in client.xrange(stream)]


def order(entry_id: bytes | str) -> tuple[int, int]:
    ms, _, seq = (entry_id.decode() if isinstance(entry_id, bytes) else entry_id).partition("-")
    return int(ms), int(seq)


def test_writes_past_the_cap_never_drop_entries_a_group_has_not_acknowledged(
    settings, write, seed_article
):
    settings = settings.model_copy(update={"events_maxlen": CAP})
    stream = settings.events_stream
    client = redis.Redis.from_url(settings.redis_url)
    queued: list[str] = []
    dispatcher = Dispatcher(
        client,
        Coordinator(client, settings),
        queued.append,
        settings,
        "d1",
        Registry.from_settings(settings),
    )
    dispatcher.ensure_group()
    # A second consumer (an audit log, say) reads three entries and has not acknowledged them.
    client.xgroup_create(stream, "audit", id="0")
    for n in range(3):
        write(article(seed_article, n), using=settings)
    read = client.xreadgroup("audit", "a1", {stream: ">"}, count=3)
    pending = [entry_id for entry_id, _ in read[0][1]]
    assert len(pending) == 3

    for n in range(3, 40):  # far past the cap
        write(article(seed_article, n), using=settings)
        dispatcher.step(block_ms=1)  # reads, acknowledges, and (the first time) trims
    stream_trim.trim(client, stream, CAP)
    kept = ids(client, stream)
    assert kept[:3] == pending, "entries the audit group has not acknowledged were trimmed"
    assert len(kept) == 40  # audit has not been delivered the rest: they all stay too

    # Once audit reads and acknowledges everything, the dispatcher's next trim brings the
    # stream down to its target.
    rest = client.xreadgroup("audit", "a1", {stream: ">"})
    client.xack(stream, "audit", *pending, *(entry_id for entry_id, _ in rest[0][1]))
    time.sleep(1.1)  # the dispatcher trims once a second
    dispatcher.step(block_ms=1)
    assert ids(client, stream) == kept[-CAP:]


def test_the_cap_is_kept_when_every_group_keeps_up(settings, write, seed_article):
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    settings = settings.model_copy(update={"events_maxlen": CAP})
    stream = settings.events_stream
    client = redis.Redis.from_url(settings.redis_url)
    client.xgroup_create(stream, "render", id="0", mkstream=True)
    written = 0
    for _ in range(30):
        for _ in range(rng.randint(1, 4)):
            write(article(seed_article, written), using=settings)
            written += 1
        # The group reads some of what is there and acknowledges part of that.
        reply = client.xreadgroup("render", "c1", {stream: ">"}, count=rng.randint(0, 5) or None)
        read = [entry_id for entry_id, _ in reply[0][1]] if reply else []
        acked = read[: rng.randint(0, len(read))]
        if acked:
            client.xack(stream, "render", *acked)
        unacked = {e["message_id"] for e in client.xpending_range(stream, "render", "-", "+", 1000)}
        undelivered_from = stream_trim.oldest_needed(client, stream)
        before = ids(client, stream)
        stream_trim.trim(client, stream, CAP)
        after = ids(client, stream)
        dropped = set(before) - set(after)
        assert not dropped & unacked, f"seed {seed}: pending entries trimmed"
        assert undelivered_from is not None
        assert all(order(i) < order(undelivered_from) for i in dropped), f"seed {seed}"
        # Never more trimmed than the cap asks for.
        assert len(after) >= min(len(before), CAP), f"seed {seed}"


def test_a_stream_without_groups_is_not_trimmed(settings, write, seed_article):
    settings = settings.model_copy(update={"events_maxlen": CAP})
    client = redis.Redis.from_url(settings.redis_url)
    for n in range(10):
        write(article(seed_article, n), using=settings)
    assert stream_trim.trim(client, settings.events_stream, CAP) == 0
    assert client.xlen(settings.events_stream) == 10
