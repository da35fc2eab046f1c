"""The dispatcher: reads `nw:events` in a consumer group and queues the builds events owe.

Run it with `python -m services.render.pipeline.dispatcher`; run several for availability.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence

import redis
from kombu.exceptions import OperationalError
from redis.client import Pipeline

from services.render.pipeline.backlog import queue_keys
from services.render.pipeline.build_queue import batch_enqueuer, batches, enqueuer
from services.render.pipeline.coordinator import Coordinator, Due
from services.render.pipeline.dispatcher_metrics import serve_metrics
from services.render.pipeline.gone_consumers import GoneConsumers
from shared.kinds.registry import Registry
from shared.log_format import configure_logging
from shared.priorities import PRIORITY_STEPS, PROMOTED, ROUTINE, URGENT
from shared.settings import Settings
from shared.state import stream_trim
from shared.state.events import Event
from shared.state.script_calls import CommandCall, ScriptCall
from shared.state.sweeper import Sweeper
from shared.task_sender import TaskSender

log = logging.getLogger("newswire.dispatcher")

_POLL_MS = 50  # the longest wait between checks of leases and the sweeper
# The longest wait while routine builds are held back: they go as soon as no build waits
# ahead of them, so not much later than a worker would have reached them in the broker.
_HELD_POLL_MS = 20
_CLAIM_EVERY_S = 1.0  # how often entries of crashed dispatchers are looked for
_TRIM_EVERY_S = 1.0  # how often acknowledged entries past `events_maxlen` are trimmed


class Dispatcher:
    def __init__(
        self,
        client: redis.Redis,
        coordinator: Coordinator,
        enqueue: Callable[[str], None],
        settings: Settings,
        consumer: str,
        registry: Registry,
        waiting_ahead: Callable[[str], int] = lambda _target: 0,
        promote: Callable[[Sequence[str]], None] | None = None,
        hurry: Callable[[Sequence[str]], None] | None = None,
        enqueue_all: Callable[[Sequence[str]], None] | None = None,
        urgent_waiting: Callable[[], bool] = lambda: False,
        urgent_lists: Sequence[str] = (),
    ) -> None:
        # Whether builds wait ahead of routine ones (urgent or promoted) in any queue: with
        # `urgent_lists` (the broker is this Redis), whether any of these lists holds a task,
        # read in the round trip of the step's marks or its due; else asked on its own.
        self._urgent_waiting = urgent_waiting
        self._urgent_lengths = [CommandCall(("LLEN", key)) for key in urgent_lists]
        self._urgent_now: bool | None = None  # its answer, asked at most once a step
        self._redis = client
        # Several targets in as few tasks as their queues and priorities allow.
        self._enqueue_all = enqueue_all or (lambda targets: [enqueue(t) for t in targets])
        # Send builds again at the promoted priority, likewise; and, past the deadline,
        # urgently.
        self._promote = promote or self._enqueue_all
        self._hurry = hurry or self._promote
        # Routine targets due while builds wait ahead of them, in the order they came due.
        self._held: dict[str, None] = {}
        self._waiting_ahead = waiting_ahead  # tasks in the broker a target's task would follow
        self._registry = registry
        self._coordinator = coordinator
        self._enqueue = enqueue
        self._settings = settings
        self._stream = settings.events_stream
        self._group = settings.consumer_group
        self._consumer = consumer
        self._reread_pending = True
        self.block_ms = _POLL_MS
        self._next_claim = self._next_sweep = self._next_trim = 0.0
        self._sweeper = Sweeper(client, settings)
        self._gone = GoneConsumers(client)
        self.read = self.acked = 0  # entries this process handled and acknowledged (metrics)
        self._handled: list[bytes] = []  # entries whose builds are queued, to acknowledge

    @property
    def held(self) -> int:
        """How many routine builds are held back while others wait ahead (metrics)."""
        return len(self._held)

    def ensure_group(self) -> None:
        """Create the consumer group at the start of the stream, so nothing is ever skipped."""
        try:
            self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def run(self, stop: threading.Event) -> None:
        backoff = 0.1
        while not stop.is_set():
            try:
                self.step(block_ms=self.block_ms)
                backoff = 0.1
            except (redis.ConnectionError, redis.TimeoutError, OperationalError) as exc:
                log.warning("redis or broker unavailable (%s); retrying in %.1fs", exc, backoff)
                self._reread_pending = True
                stop.wait(backoff)
                backoff = min(backoff * 2, 1.0)  # a returning Redis is used within a second
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # Redis came back without the stream (restarted with no persistence).
                log.warning("consumer group missing; creating it again")
                self.ensure_group()
        self._acknowledge_handled()
        if not self._held:
            return
        try:  # what is held goes now, rather than at its promotion by another dispatcher
            self._enqueue_all(list(self._held))
        except (redis.RedisError, OperationalError) as exc:
            log.warning(
                "could not send %d held builds (%s): their promotion will", len(self._held), exc
            )

    def step(self, block_ms: int) -> int:
        """One round: new events, due targets, and now and then maintenance.

        Returns:
            How many events were handled.
        """
        self._urgent_now = None
        handled = self._read(block_ms)
        now = time.monotonic()
        if now >= self._next_claim:
            self._next_claim = now + _CLAIM_EVERY_S
            handled += self._claim_stale()
        due = self._due(sweep=now >= self._next_sweep)
        # If sending fails, the leases bring back what was not sent.
        lost = self._coordinator.resend(self._lost(due.stalled))
        ready = self._held_back(due.targets) + lost
        self._enqueue_all(ready)
        self._sent(ready)
        self._send_again(due.promoted, self._promote, overdue=False)
        self._send_again(due.overdue, self._hurry, overdue=True)
        if self._held and not self._urgent():
            self._enqueue_all(list(self._held))
            self._held.clear()
        # Wake for the next window's end rather than a fixed tick: it is added latency.
        longest = _HELD_POLL_MS if self._held else _POLL_MS
        self.block_ms = longest if due.wait_ms is None else max(1, min(longest, due.wait_ms))
        if now >= self._next_trim:
            self._next_trim = now + _TRIM_EVERY_S
            stream_trim.trim(self._redis, self._stream, self._settings.events_maxlen)
        return handled

    def _acknowledge_handled(self) -> None:
        """On the way out: what was handled since the last step's `due` is acknowledged now,
        rather than read again by the next dispatcher (which would cost nothing but time)."""
        if not self._handled:
            return
        try:
            self.acked += self._redis.xack(self._stream, self._group, *self._handled)
            self._handled = []
        except redis.RedisError as exc:
            log.warning(
                "could not acknowledge %d entries (%s): they are read again",
                len(self._handled),
                exc,
            )

    def _due(self, sweep: bool) -> Due:
        """The coordinator's `due`, in one round trip with the acknowledgement of the entries
        handled since the last (their builds are queued by now) and, when `sweep`, the
        sweeper's turn (a wakeup happens within one poll of its time; the events it adds
        are read next step)."""
        along = [self._sweeper.sweep_call()] if sweep else []
        if sweep:
            self._next_sweep = time.monotonic() + _POLL_MS / 1000
        # Taken now: if this round trip fails, the entries are read again (`_reread_pending`)
        # and acknowledged once handled again.
        handled, self._handled = self._handled, []

        def acknowledge(pipe: Pipeline) -> None:
            if handled:
                pipe.xack(self._stream, self._group, *handled)

        due, replies = self._coordinator.due_with(self._asking(along), also=acknowledge)
        self.acked += len(handled)
        if sweep:
            swept = self._sweeper.result_of(replies[0])
            if swept.released or swept.due:
                log.info("released %d embargoes; %d targets due", swept.released, swept.due)
        self._answered(replies[len(along) :])
        return due

    def _asking(self, along: list[ScriptCall]) -> list[ScriptCall | CommandCall]:
        """`along`, and the urgent lists' lengths if they are read in round trips of the
        step's own and not yet read this step."""
        return [*along, *(self._urgent_lengths if self._urgent_now is None else [])]

    def _answered(self, lengths: list[int]) -> None:
        if lengths:
            self._urgent_now = any(lengths)

    def _sent(self, targets: list[str]) -> None:
        """Builds this step sent ahead of routine ones wait there now, whatever the lists'
        lengths read before said: routine ones stay held behind them."""
        registry = self._registry
        if any(
            registry.priority(t) < ROUTINE and registry.queue(t) in registry.urgent_queues
            for t in targets
        ):
            self._urgent_now = True

    def _read(self, block_ms: int) -> int:
        if self._reread_pending:
            # After a start or a failure, entries we read but never acknowledged come first.
            reply = self._redis.xreadgroup(
                self._group, self._consumer, {self._stream: "0"}, count=1000
            )
            entries = reply[0][1] if reply else []
            if entries:
                return self._handle(entries)
            self._reread_pending = False
        reply = self._redis.xreadgroup(
            self._group, self._consumer, {self._stream: ">"}, count=1000, block=block_ms
        )
        return self._handle(reply[0][1] if reply else [])

    def _claim_stale(self) -> int:
        """Take over entries a crashed dispatcher read but never acknowledged; then remove
        from the group the gone dispatchers that hold nothing (any longer)."""
        idle_ms = self._settings.claim_idle_ms
        reply = self._redis.xautoclaim(
            self._stream, self._group, self._consumer, idle_ms, count=1000
        )
        handled = self._handle(reply[1])  # Redis 7 appends a third element: deleted ids
        # A restart resets the idle times the removal goes by: it only comes that much later.
        removed = self._gone.remove(self._stream, self._group, idle_ms, keep=self._consumer)
        if removed:
            log.info("removed gone dispatchers holding nothing: %s", ", ".join(removed))
        return handled

    def _handle(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> int:
        touched: list[tuple[str, str]] = []
        ids = []
        for entry_id, fields in entries:
            ids.append(entry_id)
            if not fields:  # trimmed from the stream while pending
                continue
            try:
                event = Event.from_entry(entry_id, fields)
            except ValueError as exc:
                log.error("skipping %s", exc)
                continue
            touched += [(t, event.event_id) for t in event.targets if self._known(t, event)]
        if touched:
            marked, lengths = self._coordinator.mark_with(touched, self._asking([]))
            self._answered(lengths)
            self._send(self._held_back(marked))
        # Acknowledged only once the builds are queued (a crash before that replays them),
        # with this step's `due`.
        self._handled += ids
        self.read += len(ids)
        return len(ids)

    def _lost(self, stalled: list[str]) -> list[str]:
        """Stalled targets whose task must have been lost: nothing waits ahead of it."""
        depth: dict[tuple[str, int], int] = {}
        lost = []
        for target in stalled:
            where = (self._registry.queue(target), self._registry.priority(target))
            if where not in depth:
                depth[where] = self._waiting_ahead(target)
            if depth[where] == 0:
                lost.append(target)
        return lost

    def _send(self, targets: list[str]) -> None:
        """Queue the builds of targets just marked. If sending fails, the ones not sent are
        released (queued → idle) before the error goes up unacknowledged, so the entries,
        read again, queue them at once rather than when their lease runs out."""
        groups = [group for _, group in batches(targets, self._registry)]
        for sent, group in enumerate(groups):
            try:
                self._enqueue_all(group)
                self._sent(group)
            except Exception:
                unsent = [target for rest in groups[sent:] for target in rest]
                try:
                    self._coordinator.release(unsent)
                except redis.RedisError as exc:  # then their lease requeues them
                    log.warning("could not release %d unsent targets: %s", len(unsent), exc)
                raise

    def _send_again(
        self, targets: list[str], send: Callable[[Sequence[str]], None], overdue: bool
    ) -> None:
        """Send another copy of each of these waiting targets' tasks that could pass
        something, while builds wait ahead of them; a held one goes now. The stage is settled
        for those sent and for those a copy could never help; the others are asked about
        again after the promotion delay."""
        promotable = [target for target in targets if self._promotable(target)]
        if promotable and self._urgent():
            send(promotable)
            self._urgent_now = True  # they wait ahead of routine builds now
            for target in promotable:
                self._held.pop(target, None)
            settled = targets
        else:
            settled = [target for target in targets if target not in promotable]
        self._coordinator.promoted(settled, overdue=overdue)

    def _held_back(self, targets: list[str]) -> list[str]:
        """The targets to send now; routine ones are held while builds wait ahead.

        Sent now, a routine build would only wait in the broker behind the urgent and promoted
        ones, and once promoted (sent again, ahead of routine builds) leave its first task
        behind, for a worker to take and skip. Held, it goes once no build waits ahead of it,
        or at its promotion delay in one promoted task with the others promoted then. Held
        targets are queued in the coordinator, so one lost with this process is promoted or
        resent like any other.
        """
        routine = [target for target in targets if self._promotable(target)]
        if not routine or not self._urgent():
            return targets
        self._held.update(dict.fromkeys(routine))
        return [target for target in targets if target not in self._held]

    def _urgent(self) -> bool:
        """Whether builds wait ahead of routine ones in any queue, as seen once this step."""
        if self._urgent_now is None:
            self._urgent_now = self._urgent_waiting()
        return self._urgent_now

    def _promotable(self, target: str) -> bool:
        """Whether a second copy of a waiting target's task, sent at the promoted priority,
        could pass anything: not if it is urgent already, nor on a queue where no urgent
        builds go. It is sent only while builds wait ahead of routine ones (else it waits
        behind older routine builds only, as it should); a worker takes every queue's urgent
        and promoted builds before any routine one, so those waiting in any queue hold it
        back. Promoted, it still lets urgent builds pass until its deadline."""
        if self._registry.priority(target) == URGENT:
            return False
        return self._registry.queue(target) in self._registry.urgent_queues

    def _known(self, target: str, event: Event) -> bool:
        try:
            self._registry.kind(target)
            return True
        except ValueError as exc:
            log.error("event %s: %s; skipped", event.event_id, exc)
            return False


def waiting_ahead(broker: redis.Redis, registry: Registry) -> Callable[[str], int]:
    """How many tasks wait in the broker ahead of a new task of a target: those in its
    queue at its priority or a more urgent one (kombu's Redis transport keeps a list each)."""
    lists = queue_keys(registry, PRIORITY_STEPS)

    def count(target: str) -> int:
        queue, priority = registry.queue(target), registry.priority(target)
        ahead = [key for (name, step), key in lists.items() if name == queue and step <= priority]
        pipe = broker.pipeline(transaction=False)
        for key in ahead:
            pipe.llen(key)
        return sum(pipe.execute())

    return count


def urgent_lists(registry: Registry) -> list[str]:
    """The broker's lists of builds that wait ahead of routine ones (urgent or promoted), in
    every queue that carries urgent builds."""
    lists = queue_keys(registry, PRIORITY_STEPS)
    ahead = [step for step in PRIORITY_STEPS if step < ROUTINE]
    return [lists[(queue, step)] for queue in registry.urgent_queues for step in ahead]


def urgent_waiting(broker: redis.Redis, registry: Registry) -> Callable[[], bool]:
    """Whether builds wait ahead of routine ones (urgent or promoted) in any queue that
    carries urgent builds."""
    urgent = urgent_lists(registry)

    def waiting() -> bool:
        pipe = broker.pipeline(transaction=False)
        for key in urgent:
            pipe.llen(key)
        return any(pipe.execute())

    return waiting


def main() -> None:
    settings = Settings()
    configure_logging(settings)
    client = redis.Redis.from_url(settings.redis_url)
    registry = Registry.from_settings(settings)
    sender = TaskSender(settings.celery_broker_url)
    enqueue = enqueuer(sender, registry)
    consumer = settings.consumer_name or f"{socket.gethostname()}-{os.getpid()}"
    broker = redis.Redis.from_url(settings.broker_url) if settings.broker_url else client
    dispatcher = Dispatcher(
        client,
        Coordinator(client, settings, registry),
        enqueue,
        settings,
        consumer,
        registry,
        waiting_ahead(broker, registry),
        promote=batch_enqueuer(sender, registry, priority=PROMOTED),
        hurry=batch_enqueuer(sender, registry, priority=URGENT),
        enqueue_all=batch_enqueuer(sender, registry),
        urgent_waiting=urgent_waiting(broker, registry),
        # Read in the step's own round trips when the broker is this Redis.
        urgent_lists=() if settings.broker_url else urgent_lists(registry),
    )
    serve_metrics(settings, dispatcher, registry)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.is_set():
        try:
            dispatcher.ensure_group()
            break
        except redis.ConnectionError as exc:
            log.warning("waiting for redis at %s: %s", settings.redis_url, exc)
            stop.wait(1.0)
    log.info("dispatching %s as %s", settings.events_stream, consumer)
    dispatcher.run(stop)


if __name__ == "__main__":
    main()
