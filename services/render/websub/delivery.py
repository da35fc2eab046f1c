"""WebSub on the workers: verification of intent, content distribution, and their Celery tasks.

A publish whose feed bytes changed is announced by the build's `after_publish` hook (one Redis
call, nothing more when nobody subscribes). A changed topic with a few subscribers (at most
`DIRECT_DELIVERIES`) gets a `deliver` task per subscriber at once; one with more, or any topic
when external hubs are configured, gets a `notify` task, which queues a `deliver` task per
active subscriber and a `ping` per external hub on the WebSub worker, off the build. Tasks
carry ids (topic, callback, ETag), never content: a delivery reads the artifact when it runs,
and drops itself if a newer publish has replaced it (that publish queued its own deliveries).

A failed call is retried after each of `websub_retry_delays_s` when the failure may pass
(transport error, 5xx, 408, 425, 429), then dropped as a dead letter; any other answer is final
at once (a 4xx will not change on a retry, and 3xx is not followed). 410 Gone unsubscribes.

A verification holds a slot of the hub's limits (shared/websub_limits.py) until it ends: the
intent's `verify` or `discard` frees it, whatever the outcome. A callback on a port the hub
refuses (below 1024, other than 80 and 443) is never called, even if an older hub took it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from celery import Celery, Task

from services.render.pipeline.builds import Announcement
from shared.net.fetcher import Fetcher, FetchError, FetchRefused
from shared.settings import Settings
from shared.store import ArtifactStore
from shared.store.artifacts import Artifact
from shared.websub import (
    DELIVER_TASK,
    NOTIFY_TASK,
    PING_TASK,
    QUEUE,
    VERIFY_TASK,
    SendTask,
    Subscriptions,
    callback_port_allowed,
    hub_url,
    is_topic_path,
    sign,
    topic_path,
    topic_url,
)

log = logging.getLogger(__name__)

_TRANSIENT_STATUSES = frozenset({408, 425, 429})
# Subscribers of a changed topic that a build queues deliveries for itself. A `notify` task
# in between cost the WebSub worker a task and a Redis call per change, and readers a hop;
# past a few, queueing each delivery would hold up the build.
DIRECT_DELIVERIES = 4


class CallFailed(Exception):
    """A call to a subscriber or hub failed; `transient` if a retry may succeed."""

    def __init__(self, reason: str, transient: bool = True) -> None:
        super().__init__(reason)
        self.transient = transient


@dataclass(frozen=True)
class WebSub:
    """What the WebSub tasks use, made once per worker process."""

    settings: Settings
    subscriptions: Subscriptions
    store: ArtifactStore
    fetcher: Fetcher
    send_task: SendTask


def publish_hook(
    settings: Settings, subscriptions: Subscriptions, send_task: SendTask
) -> Callable[[str, Sequence[Artifact]], Announcement | None]:
    """A `BuildContext.after_publish` hook: claim the changed, followed topics (in the build's
    finish), then queue a notification or deliveries for each."""
    every = bool(settings.websub_external_hubs)  # external hubs follow every topic
    few = -1 if every else DIRECT_DELIVERIES  # hubs are pinged by `notify`: never skip it

    def announce(target: str, artifacts: Sequence[Artifact]) -> Announcement | None:
        etags = {topic_url(settings, a.path): a.etag for a in artifacts if is_topic_path(a.path)}
        if not etags:
            return None

        def send(reply: Any) -> None:
            for change in subscriptions.changes(etags, reply):
                etag = etags[change.topic]
                if change.callbacks is None:
                    send_task(NOTIFY_TASK, args=[change.topic, etag], queue=QUEUE)
                for callback in change.callbacks or ():
                    send_task(DELIVER_TASK, args=[change.topic, callback, etag], queue=QUEUE)

        return Announcement(subscriptions.claim(etags, every=every, few=few), send)

    return announce


def fan_out(topic: str, etag: str, ctx: WebSub) -> int:
    """Queue a delivery of `topic` at `etag` to each active subscriber, and a ping to each
    external hub; returns the number of subscribers."""
    subscribers = ctx.subscriptions.active(topic)
    for subscription in subscribers:
        ctx.send_task(DELIVER_TASK, args=[topic, subscription.callback, etag], queue=QUEUE)
    for hub in ctx.settings.websub_external_hubs:
        ctx.send_task(PING_TASK, args=[str(hub), topic], queue=QUEUE)
    return len(subscribers)


def verify_intent(intent_id: str, ctx: WebSub) -> str:
    """Ask the callback whether it meant the (un)subscription; apply it only if it echoes the
    challenge with a 2xx. Safe to run twice: a handled intent is gone.

    Raises:
        CallFailed: transport error (worth a retry).
    """
    intent = ctx.subscriptions.pending(intent_id)
    if intent is None:
        return "unknown"
    if not callback_port_allowed(intent.callback):
        log.info("websub: not verifying %s: a port the hub refuses", intent.callback)
        ctx.subscriptions.discard(intent)
        return "refused"
    challenge = secrets.token_urlsafe(32)
    params = {"hub.mode": intent.mode, "hub.topic": intent.topic, "hub.challenge": challenge}
    if intent.mode == "subscribe":
        params["hub.lease_seconds"] = str(intent.lease_seconds)
    try:
        answer = ctx.fetcher.get(intent.callback, params=params, follow_redirects=False)
    except FetchRefused as exc:
        log.info("websub: not verifying %s: %s", intent.callback, exc)
        ctx.subscriptions.discard(intent)
        return "refused"
    except FetchError as exc:
        raise CallFailed(f"verification: {exc}") from exc
    if 200 <= answer.status < 300 and answer.body == challenge.encode():
        ctx.subscriptions.verify(intent)
        log.info("websub: verified %s of %s to %s", intent.mode, intent.callback, intent.topic)
        return "verified"
    ctx.subscriptions.discard(intent)
    return "declined"


def deliver(topic: str, callback: str, etag: str, ctx: WebSub) -> str:
    """POST the topic's current content to one subscriber, signed if it gave a secret.

    Raises:
        CallFailed: the subscriber did not take it.
    """
    subscription = ctx.subscriptions.get(topic, callback)
    if subscription is None:
        return "unsubscribed"
    if not callback_port_allowed(callback):
        ctx.subscriptions.remove(topic, callback)
        log.info("websub: %s is on a port the hub refuses, unsubscribed from %s", callback, topic)
        return "refused"
    path = topic_path(ctx.settings, topic)
    artifact = ctx.store.get(path) if path else None
    if artifact is None or artifact.etag != etag:
        return "superseded"
    headers = {
        "Content-Type": artifact.content_type,
        "Link": f'<{hub_url(ctx.settings)}>; rel="hub", <{topic}>; rel="self"',
    }
    if subscription.secret:
        headers["X-Hub-Signature"] = sign(subscription.secret, artifact.body)
    if _post(ctx.fetcher, callback, artifact.body, headers) == 410:
        ctx.subscriptions.remove(topic, callback)
        log.info("websub: %s is gone, unsubscribed from %s", callback, topic)
        return "gone"
    return "delivered"


def ping_hub(hub: str, topic: str, ctx: WebSub) -> str:
    """Tell an external hub that `topic` changed (`hub.mode=publish`).

    Raises:
        CallFailed: the hub did not take it.
    """
    body = urlencode({"hub.mode": "publish", "hub.url": topic}).encode()
    _post(ctx.fetcher, hub, body, {"Content-Type": "application/x-www-form-urlencoded"})
    return "pinged"


def give_up(ctx: WebSub, topic: str, callback: str, exc: CallFailed, attempts: int) -> str:
    """Drop a call: log it and keep it as a dead letter for `newswire dead-letters`."""
    log.warning(
        "websub: gave up on %s for %s after %d attempts: %s", callback, topic, attempts, exc
    )
    ctx.subscriptions.dead_letter(topic, callback, str(exc), attempts)
    return "dropped"


def _post(fetcher: Fetcher, url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST without following redirects; the status if 2xx or 410.

    Raises:
        CallFailed: a refused address, transport error, or another status.
    """
    try:
        status = fetcher.post(url, body, headers, follow_redirects=False).status
    except FetchRefused as exc:
        raise CallFailed(f"refused: {exc}", transient=False) from exc
    except FetchError as exc:
        raise CallFailed(str(exc)) from exc
    if 200 <= status < 300 or status == 410:
        return status
    raise CallFailed(f"HTTP {status}", transient=status >= 500 or status in _TRANSIENT_STATUSES)


def _retry(task: Task, delays: Sequence[float], exc: CallFailed) -> None:
    """Raise Celery's Retry for the next delay, if the failure may pass and delays are left.

    Countdowns stay a few seconds: the Redis broker redelivers tasks whose ETA exceeds its
    visibility timeout.
    """
    done = task.request.retries
    if exc.transient and done < len(delays):
        raise task.retry(countdown=delays[done], max_retries=len(delays), exc=exc)


def register_tasks(app: Celery, context: Callable[[], WebSub]) -> None:
    """The WebSub tasks, thin adapters over the functions above (routed to the websub queue)."""

    @app.task(name=VERIFY_TASK, bind=True, acks_late=True)
    def verify(self: Task, intent_id: str) -> str:
        ctx = context()
        try:
            return verify_intent(intent_id, ctx)
        except CallFailed as exc:
            _retry(self, ctx.settings.websub_retry_delays_s, exc)
            log.warning("websub: verification of intent %s failed: %s", intent_id, exc)
            ctx.subscriptions.discard(intent_id)
            return "failed"

    @app.task(name=NOTIFY_TASK, acks_late=True)
    def notify(topic: str, etag: str) -> int:
        return fan_out(topic, etag, context())

    @app.task(name=DELIVER_TASK, bind=True, acks_late=True)
    def deliver_content(self: Task, topic: str, callback: str, etag: str) -> str:
        ctx = context()
        try:
            return deliver(topic, callback, etag, ctx)
        except CallFailed as exc:
            _retry(self, ctx.settings.websub_retry_delays_s, exc)
            return give_up(ctx, topic, callback, exc, self.request.retries + 1)

    @app.task(name=PING_TASK, bind=True, acks_late=True)
    def ping(self: Task, hub: str, topic: str) -> str:
        ctx = context()
        try:
            return ping_hub(hub, topic, ctx)
        except CallFailed as exc:
            _retry(self, ctx.settings.websub_retry_delays_s, exc)
            return give_up(ctx, topic, hub, exc, self.request.retries + 1)
