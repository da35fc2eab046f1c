"""A least-recently-used cache bounded by the bytes its values hold, not by their count.

A count bound says nothing about memory when one value may be a 1 MB article body and the
next a 200-byte headline; a byte budget does. Callers say what each value weighs, often
with `approximate_size`.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_LEAVES = (str, bytes, bytearray, int, float, bool, type(None))


def approximate_size(value: object) -> int:
    """Bytes held by `value` and everything it refers to (containers, dataclasses, pydantic
    models), each object counted once: an estimate, cheap enough to take on every put."""
    seen: set[int] = set()
    stack = [value]
    total = 0
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, _LEAVES):
            continue
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif hasattr(item, "__dict__"):
            stack.append(vars(item))
    return total


class BoundedCache(Generic[K, V]):
    """Least recently used entries go first once the total passes `max_bytes`; a value
    larger than the whole budget is not kept. Safe to share between threads."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V, size: int) -> None:
        """Keep `value`, which holds about `size` bytes, evicting the least recently used."""
        with self._lock:
            self._remove(key)
            if size > self._max:
                return  # larger than the whole budget: the caller makes it each time
            self._entries[key] = (value, size)
            self._bytes += size
            self._evict()

    def pop(self, key: K) -> None:
        with self._lock:
            self._remove(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def resize(self, max_bytes: int) -> None:
        """Change the budget, evicting at once if the cache is now over it."""
        with self._lock:
            self._max = max_bytes
            self._evict()

    @property
    def bytes(self) -> int:
        """Bytes held now (as the sizes given to `put` add up); never above `max_bytes`."""
        return self._bytes

    @property
    def entries(self) -> int:
        return len(self._entries)

    @property
    def max_bytes(self) -> int:
        return self._max

    def _remove(self, key: K) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old[1]

    def _evict(self) -> None:
        while self._bytes > self._max:
            _, (_, size) = self._entries.popitem(last=False)
            self._bytes -= size
