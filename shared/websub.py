"""WebSub subscriptions kept in Redis: topics, leases, intents awaiting verification, signatures.

A topic is the URL of one format of one feed (`<feeds_base_url>feeds/sections/dunya.rss`); the
hub is `<feeds_base_url>websub`. A (un)subscription request becomes an `Intent`, stored until
the hub has checked with the subscriber that it meant it (verification of intent); only then
does `Subscriptions.verify` apply it. Redis keys (named in shared/state/redis_keys.py):

    SUBS    per topic URL  hash    callback → JSON {"secret": str | null}
    LEASES  per topic URL  zset    callback → lease end (ms since the epoch)
    ETAG    per topic URL  string  ETag of the content subscribers were last sent
    INTENT  per intent id  string  JSON of an `Intent`; expires unverified
    DEAD                   list    dead letters (JSON), newest first, capped

An intent holds a verification slot (shared/websub_limits.py) from the hub's reservation until
`verify` or `discard` ends it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urljoin, urlsplit

import redis

from shared.settings import Settings
from shared.state import redis_keys
from shared.state.script_calls import ScriptCall
from shared.store.artifacts import safe_path
from shared.websub_limits import release

QUEUE = "websub"
# Task names: the contract between the hub (feeds service) and the render workers.
VERIFY_TASK = "newswire.websub.verify"
NOTIFY_TASK = "newswire.websub.notify"
DELIVER_TASK = "newswire.websub.deliver"
PING_TASK = "newswire.websub.ping"

SUBS = redis_keys.WEBSUB_SUBS
LEASES = redis_keys.WEBSUB_LEASES
ETAG = redis_keys.WEBSUB_ETAG
INTENT = redis_keys.WEBSUB_INTENT
DEAD = redis_keys.WEBSUB_DEAD

# Verification runs within seconds; an intent left after an hour was lost with its task.
_INTENT_TTL_S = 3600
# Below 1024 only the web's own ports: a callback on :25 or :9 would turn the hub's requests
# into traffic for mail servers and the like.
_WEB_PORTS = frozenset({80, 443})
# Another publisher's author feeds are under feeds/publishers/<publisher>/ (shared/kinds/feed.py).
_TOPIC_PATH = re.compile(
    r"feeds/(?:all|(?:sections|tags|(?:publishers/[^/?#]+/)?authors)/[^/?#]+)\.(?:rss|atom|json)"
)

Mode = Literal["subscribe", "unsubscribe"]


class SendTask(Protocol):
    """Queue a Celery task by name on a queue (`Celery.send_task` and `TaskSender` fit)."""

    def __call__(self, name: str, args: Sequence[str], queue: str) -> object: ...


@dataclass(frozen=True)
class Intent:
    """A (un)subscription request awaiting verification; `lease_seconds` is the granted one."""

    id: str
    mode: Mode
    topic: str
    callback: str
    lease_seconds: int
    secret: str | None = None


@dataclass(frozen=True)
class Subscription:
    topic: str
    callback: str
    secret: str | None
    expires_at: float  # seconds since the epoch


@dataclass(frozen=True)
class DeadLetter:
    """A delivery given up on."""

    topic: str
    callback: str
    reason: str
    attempts: int
    at: float  # seconds since the epoch


def hub_url(settings: Settings) -> str:
    """The hub's URL (`feeds_base_url` + "websub"), for `rel="hub"` links."""
    return urljoin(str(settings.feeds_base_url), "websub")


def topic_url(settings: Settings, path: str) -> str:
    """The topic URL of an artifact path, as feeds link to themselves (`rel="self"`)."""
    return urljoin(str(settings.feeds_base_url), path)


def is_topic_path(path: str) -> bool:
    """Whether an artifact path is a feed subscribers can follow (RSS, Atom or JSON Feed)."""
    return bool(_TOPIC_PATH.fullmatch(path)) and safe_path(path) is not None


def topic_path(settings: Settings, url: str) -> str | None:
    """The artifact path of a topic URL, or None if `url` is not one of our feeds."""
    root = topic_url(settings, ".")
    path = url[len(root) :] if url.startswith(root) else ""
    return path if is_topic_path(path) and topic_url(settings, path) == url else None


def callback_port_allowed(url: str) -> bool:
    """Whether a callback's port may be called: 80, 443 (a scheme's default) or 1024 and up.
    A malformed URL passes here; the fetcher refuses it."""
    try:
        port = urlsplit(url).port
    except ValueError:
        return True
    return port is None or port in _WEB_PORTS or port >= 1024


def granted_lease(settings: Settings, requested: int | None) -> int:
    """The lease a subscriber gets: what it asked for (or the default), at most the cap."""
    return min(requested or settings.websub_default_lease_s, settings.websub_max_lease_s)


def sign(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature` value of a delivery: `sha256=<hex HMAC-SHA256(secret, body)>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# Drops the topic's expired subscriptions and returns the rest as (callback, lease end ms,
# details JSON) triples, atomically, so a renewal racing the cleanup is never dropped.
_ACTIVE = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, callback in ipairs(expired) do redis.call('HDEL', KEYS[2], callback) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local live, out = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES'), {}
for i = 1, #live, 2 do
  table.insert(out, live[i])
  table.insert(out, live[i + 1])
  table.insert(out, redis.call('HGET', KEYS[2], live[i]) or '{}')
end
return out
"""

# KEYS: n ETag keys, then the n topics' lease keys; ARGV: "1" to claim every topic (external
# hubs listen to all of them), the time in ms, `few`, then the n new ETags. Remembers the new
# ETags of the topics that have subscribers (or all) and whose ETag changed, and returns, for
# each, its 1-based position and the callbacks of its live subscribers if they are at most
# `few` (false if more).
_CLAIM = """
local n = #KEYS / 2
local every, live_after, few = ARGV[1] == '1', '(' .. ARGV[2], tonumber(ARGV[3])
local changed = {}
for i = 1, n do
  local watched = every or redis.call('EXISTS', KEYS[n + i]) == 1
  if watched and redis.call('GET', KEYS[i]) ~= ARGV[i + 3] then
    redis.call('SET', KEYS[i], ARGV[i + 3])
    local callbacks = false
    if redis.call('ZCOUNT', KEYS[n + i], live_after, '+inf') <= few then
      callbacks = redis.call('ZRANGEBYSCORE', KEYS[n + i], live_after, '+inf')
    end
    table.insert(changed, {i, callbacks})
  end
end
return changed
"""


@dataclass(frozen=True)
class Change:
    """A topic whose content changed (`Subscriptions.claim_changes`)."""

    topic: str
    # Its live subscribers' callbacks, when they are few; None when the change is to be
    # fanned out (more subscribers, or external hubs to tell).
    callbacks: tuple[str, ...] | None


class Subscriptions:
    """Subscriptions, pending intents and dead letters of the WebSub hub, in Redis."""

    def __init__(
        self, client: redis.Redis, settings: Settings, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = client
        self._settings = settings
        self._clock = clock
        self._active = client.register_script(_ACTIVE)
        self._claim = client.register_script(_CLAIM)

    def request(
        self, mode: Mode, topic: str, callback: str, lease: int | None, secret: str | None
    ) -> Intent:
        """Store a (un)subscription request until verified, with its lease granted and capped."""
        intent = self.new_intent(mode, topic, callback, lease, secret)
        self.store(intent)
        return intent

    def new_intent(
        self, mode: Mode, topic: str, callback: str, lease: int | None, secret: str | None
    ) -> Intent:
        """A (un)subscription request with a fresh id and its lease granted; not stored yet."""
        granted = granted_lease(self._settings, lease) if mode == "subscribe" else 0
        return Intent(secrets.token_urlsafe(16), mode, topic, callback, granted, secret)

    def store(self, intent: Intent) -> None:
        """Keep `intent` until it is verified or discarded (or lost with its task: it expires)."""
        self._redis.set(INTENT.format(id=intent.id), json.dumps(asdict(intent)), ex=_INTENT_TTL_S)

    def pending(self, intent_id: str) -> Intent | None:
        """The intent awaiting verification, or None if verified, discarded or expired."""
        raw = self._redis.get(INTENT.format(id=intent_id))
        return Intent(**json.loads(raw)) if raw else None

    def verify(self, intent: Intent) -> None:
        """The subscriber confirmed `intent`: apply it (renewing a lease), forget the intent and
        free its verification slot."""
        pipe = self._redis.pipeline(transaction=True)
        if intent.mode == "subscribe":
            self._add(pipe, intent.topic, intent.callback, intent.lease_seconds, intent.secret)
        else:
            self._remove(pipe, intent.topic, intent.callback)
        pipe.delete(INTENT.format(id=intent.id))
        release(pipe, intent.id, intent.callback)
        pipe.execute()

    def discard(self, intent: Intent | str) -> None:
        """The subscriber did not confirm an intent (or it was never sent): forget it, changing
        nothing, and free its verification slot."""
        found = self.pending(intent) if isinstance(intent, str) else intent
        if found is None:
            return  # already handled, or expired with its slot
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(INTENT.format(id=found.id))
        release(pipe, found.id, found.callback)
        pipe.execute()

    def add(self, topic: str, callback: str, lease: int | None, secret: str | None) -> None:
        """Subscribe `callback` to `topic` now, for the granted lease (a renewal replaces)."""
        pipe = self._redis.pipeline(transaction=True)
        self._add(pipe, topic, callback, granted_lease(self._settings, lease), secret)
        pipe.execute()

    def remove(self, topic: str, callback: str) -> bool:
        """Unsubscribe `callback` from `topic`; False if it was not subscribed."""
        pipe = self._redis.pipeline(transaction=True)
        self._remove(pipe, topic, callback)
        return bool(pipe.execute()[0])

    def active(self, topic: str) -> list[Subscription]:
        """The unexpired subscriptions of `topic`, by lease end; expired ones are dropped."""
        now_ms = int(self._clock() * 1000)
        flat = self._active(
            keys=[LEASES.format(topic=topic), SUBS.format(topic=topic)], args=[now_ms]
        )
        return [
            Subscription(
                topic, _text(callback), json.loads(details).get("secret"), float(ms) / 1000
            )
            for callback, ms, details in zip(flat[::3], flat[1::3], flat[2::3], strict=True)
        ]

    def get(self, topic: str, callback: str) -> Subscription | None:
        """The unexpired subscription of `callback` to `topic`, or None."""
        return next((s for s in self.active(topic) if s.callback == callback), None)

    def claim_changes(
        self, etags: Mapping[str, str], every: bool = False, few: int = -1
    ) -> list[Change]:
        """The topics (topic URL → new ETag) to announce: those with subscribers (or all, with
        `every`) whose content differs from what was last announced, remembered from now on;
        each with its subscribers' callbacks if it has at most `few`. One Redis call, so a
        publish costs next to nothing when nobody subscribes."""
        if not etags:
            return []
        return self.changes(etags, self.claim(etags, every, few).run(self._redis))

    def claim(self, etags: Mapping[str, str], every: bool = False, few: int = -1) -> ScriptCall:
        """`claim_changes` as a script call, to send in another's round trip (a build's
        finish); `changes` reads its reply."""
        topics = list(etags)
        keys = [ETAG.format(topic=t) for t in topics] + [LEASES.format(topic=t) for t in topics]
        now_ms = int(self._clock() * 1000)
        return ScriptCall(self._claim, keys, ["1" if every else "0", now_ms, few, *etags.values()])

    @staticmethod
    def changes(etags: Mapping[str, str], reply: Any) -> list[Change]:
        """The changes of a `claim` of `etags`, from its reply."""
        topics = list(etags)
        return [
            Change(topics[i - 1], None if callbacks is None else tuple(map(_text, callbacks)))
            for i, callbacks in reply
        ]

    def dead_letter(self, topic: str, callback: str, reason: str, attempts: int) -> None:
        """Record a delivery given up on, keeping the newest `websub_dead_letters_max`."""
        letter = DeadLetter(topic, callback, reason, attempts, self._clock())
        pipe = self._redis.pipeline(transaction=True)
        pipe.lpush(DEAD, json.dumps(asdict(letter)))
        pipe.ltrim(DEAD, 0, self._settings.websub_dead_letters_max - 1)
        pipe.execute()

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters first."""
        return [DeadLetter(**json.loads(raw)) for raw in self._redis.lrange(DEAD, 0, limit - 1)]

    def clear_dead_letters(self) -> int:
        """Empty the dead letters; returns how many there were."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.llen(DEAD)
        pipe.delete(DEAD)
        return int(pipe.execute()[0])

    def _add(
        self, pipe: redis.client.Pipeline, topic: str, callback: str, lease: int, secret: str | None
    ) -> None:
        ends_ms = int((self._clock() + lease) * 1000)
        pipe.zadd(LEASES.format(topic=topic), {callback: ends_ms})
        pipe.hset(SUBS.format(topic=topic), callback, json.dumps({"secret": secret}))

    def _remove(self, pipe: redis.client.Pipeline, topic: str, callback: str) -> None:
        pipe.zrem(LEASES.format(topic=topic), callback)
        pipe.hdel(SUBS.format(topic=topic), callback)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
