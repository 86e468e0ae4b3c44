"""Per-process caches that forget after a few seconds: what every request reads and what rarely changes
(a submission's published version and departments, a system client's checked token, the gateway's
catalogue entries, grants, registry views and latest checkpoint). One helper for all of them, so that each
states only its lifetime and size, and tests forget them all with ``clear_all()``.

Reads take no lock (a dict lookup is atomic in CPython) and cost what the hand-written caches they replace
did; writes and clearing take the cache's lock. A full cache is emptied rather than trimmed: the entries
are cheap to read again, and this keeps a write constant-time. A value may be computed twice when two
threads miss at once: the callers' values are the same either way."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")

# The clock every cache reads, a module attribute so that a test can move time on
# (``monkeypatch.setattr(tongban.core.cache, "clock", lambda: later)``) instead of sleeping.
clock: Callable[[], float] = time.monotonic

_MISSING = object()
_caches: weakref.WeakSet[TimedCache] = weakref.WeakSet()


class TimedCache(Generic[V]):
    """Values by key, each kept ``seconds`` after it was stored; at most ``size`` entries."""

    def __init__(self, name: str, *, seconds: float, size: int = 10_000) -> None:
        self.name = name
        self.seconds = seconds
        self.size = size
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()
        _caches.add(self)

    def get(self, key: Hashable, default: V | None = None) -> V | None:
        """The value kept under ``key``, or ``default`` when there is none or it has expired."""
        hit = self._entries.get(key)
        if hit is not None and clock() - hit[0] < self.seconds:
            return hit[1]
        return default

    def set(self, key: Hashable, value: V) -> None:
        now = clock()
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[key] = (now, value)

    def get_or_set(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The value kept under ``key``; else ``compute()``, kept (None too: "there is none" is an answer)."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            value = compute()
            self.set(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<TimedCache {self.name} {self.seconds}s {len(self)}/{self.size}>"


def clear_all() -> None:
    """Forget every cache of this process (tests: each has a database of its own, with the same keys)."""
    for cache in list(_caches):
        cache.clear()
