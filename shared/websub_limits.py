"""The WebSub hub's limits, counted in Redis so that every feeds process shares them.

- `ClientWindow`: hub requests per client address in a sliding window (an IPv6 client counts
  by its /64, which one host usually holds whole).
- `VerifySlots`: verifications of intent pending or running, per callback host and in the whole
  deployment. The hub reserves a slot before it queues a verification; the worker frees it when
  the verification ends, whatever its outcome (`Subscriptions.verify` and `discard` call
  `release`). A slot whose worker died expires after `slot_lifetime_s`.

Each check is one Lua call (shared/state/lua/websub_*.lua) against Redis's clock. Key names
come from shared/state/redis_keys.py.
"""

from __future__ import annotations

import ipaddress
import math
import secrets
from dataclasses import dataclass
from importlib.resources import files
from typing import Literal
from urllib.parse import urlsplit

import redis

from shared.settings import Settings
from shared.state import redis_keys

_LUA = files("shared.state.lua")
_WINDOW_SCRIPT = _LUA.joinpath("websub_client_window.lua").read_text()
_RESERVE_SCRIPT = _LUA.joinpath("websub_reserve.lua").read_text()
# A slot outlives any verification a live worker runs (see `slot_lifetime_s`) by this factor,
# and lasts at least `_MIN_SLOT_S`: expiry is for dead workers, not slow ones.
_SLOT_MARGIN = 2
_MIN_SLOT_S = 60.0


@dataclass(frozen=True)
class Full:
    """A refused reservation: whose slots are all taken (`host`: the callback host's, `hub`:
    the deployment's) and the seconds until one frees at the latest (at least 1)."""

    scope: Literal["host", "hub"]
    retry_after_s: int


def client_key(address: str) -> str:
    """The name a client counts under: its IPv4 address, or its IPv6 address's /64."""
    try:
        ip = ipaddress.ip_address(address.partition("%")[0])
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def callback_host(url: str) -> str:
    """The host of a callback URL as slots are counted: lowercase, IDNA-encoded, no final dot."""
    try:
        host = (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def slot_lifetime_s(settings: Settings) -> float:
    """How long a verification's slot lasts unless its end frees it: twice the longest a live
    worker can take (every attempt to its deadline, plus the delays between), at least 60 s."""
    delays = settings.websub_retry_delays_s
    longest = (len(delays) + 1) * settings.fetch_deadline_s + sum(delays)
    return max(_MIN_SLOT_S, _SLOT_MARGIN * longest)


def _seconds(ms: int) -> int:
    return max(1, math.ceil(ms / 1000))


class ClientWindow:
    """At most `limit` hub requests per client within `window_s`; a `limit` of 0 allows all."""

    def __init__(self, client: redis.Redis, limit: int, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._script = client.register_script(_WINDOW_SCRIPT)

    def take(self, address: str) -> int:
        """Count a request by the client at `address`: 0 if it may go, else the seconds
        (at least 1) until it may. A refused request is not counted."""
        if not self.limit:
            return 0
        wait_ms = self._script(
            keys=[redis_keys.WEBSUB_CLIENT.format(client=client_key(address))],
            args=[round(self.window_s * 1000), self.limit, secrets.token_hex(8)],
        )
        return _seconds(int(wait_ms)) if int(wait_ms) else 0


class VerifySlots:
    """Slots for verifications of intent: `per_host` per callback host, `overall` in all."""

    def __init__(self, client: redis.Redis, per_host: int, overall: int, lifetime_s: float) -> None:
        self.per_host = per_host
        self.overall = overall
        self.lifetime_s = lifetime_s
        self._redis = client
        self._script = client.register_script(_RESERVE_SCRIPT)

    @classmethod
    def from_settings(cls, client: redis.Redis, settings: Settings) -> VerifySlots:
        return cls(
            client,
            settings.websub_pending_per_host,
            settings.websub_verify_queue_max,
            slot_lifetime_s(settings),
        )

    def reserve(self, intent_id: str, callback: str) -> Full | None:
        """Take a slot for the verification of `intent_id` at `callback`; None once taken."""
        scope, wait_ms = self._script(
            keys=[redis_keys.WEBSUB_PENDING, _host_key(callback)],
            args=[intent_id, round(self.lifetime_s * 1000), self.per_host, self.overall],
        )
        if not int(scope):
            return None
        return Full("host" if int(scope) == 1 else "hub", _seconds(int(wait_ms)))

    def release(self, intent_id: str, callback: str) -> None:
        """Free the slot of `intent_id` (nothing if it holds none)."""
        pipe = self._redis.pipeline(transaction=True)
        release(pipe, intent_id, callback)
        pipe.execute()

    def held(self, callback: str | None = None) -> int:
        """Slots held now, at `callback`'s host or (None) in all; expired ones left out."""
        key = _host_key(callback) if callback is not None else redis_keys.WEBSUB_PENDING
        now_ms = _redis_time_ms(self._redis)
        return int(self._redis.zcount(key, f"({now_ms}", "+inf"))


def release(pipe: redis.client.Pipeline, intent_id: str, callback: str) -> None:
    """Queue on `pipe` the freeing of `intent_id`'s slot (a verification ended)."""
    pipe.zrem(redis_keys.WEBSUB_PENDING, intent_id)
    pipe.zrem(_host_key(callback), intent_id)


def _host_key(callback: str) -> str:
    return redis_keys.WEBSUB_PENDING_HOST.format(host=callback_host(callback))


def _redis_time_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000
