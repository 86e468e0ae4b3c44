"""Fixed-window request counters shared by every process: in Redis when REDIS_URL is set (production), in
the cache otherwise (the database in the demo, memory in tests).

In Redis a process takes hits in leases: one round trip (INCRBY the lease, EXPIRE only when the window is
new, pipelined) reserves up to 1/50 of the limit (at most 32 hits), which the process then spends without
asking again. The gateway counts every call, and a round trip per call cost a tenth of its throughput.
- Hits are reserved before they are spent, so all processes together never admit more than the limit in
  a window.
- A lease another process has not spent yet is lost to the others: a key can be refused up to
  (processes - 1) x lease hits before the limit. Limits under 100 lease one hit at a time and stay exact
  (the login and tracking throttles).
- Once a key's window is spent, this process refuses it without asking Redis until the window ends."""

from __future__ import annotations

import threading
import time

import redis
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from .http import client_bucket

PREFIX = "tongban:throttle:"
LEASE_SHARE = 50  # a lease is at most this fraction of the limit …
LEASE_MAX = 32  # … and at most this many hits
_client: redis.Redis | None = None
_client_url = ""
_lock = threading.Lock()


def throttle_hit(key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one hit for ``key``; False once more than ``limit`` hits fall in the current window."""
    window = int(time.time() // window_seconds)
    url = getattr(settings, "REDIS_URL", None)
    if url:
        return _leases.hit(_redis(url), key, window, limit=limit, ttl=window_seconds + 5)
    return _cache_count(f"throttle:{key}:{window}", window_seconds + 5) <= limit


def throttle_client(request: HttpRequest, scope: str, *, limit: int, window_seconds: int) -> bool:
    """Count one hit for the client that sent ``request`` (core.http.client_bucket: behind the trusted
    proxies, the client and not the proxy; IPv6 by /64) in ``scope``; False once over ``limit``."""
    return throttle_hit(
        f"{scope}:{client_bucket(request) or 'unknown'}", limit=limit, window_seconds=window_seconds
    )


def _redis(url: str) -> redis.Redis:
    global _client, _client_url
    if _client is None or _client_url != url:
        with _lock:
            if _client is None or _client_url != url:
                timeout = settings.REDIS_TIMEOUT
                _client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
                _client_url = url
    return _client


def lease_size(limit: int) -> int:
    return max(1, min(LEASE_MAX, limit // LEASE_SHARE))


class Leases:
    """The hits this process holds per key for the current window (one instance per process)."""

    def __init__(self) -> None:
        self.held: dict[str, tuple[int, int]] = {}  # key -> (window, hits left; -1: the window is spent)
        self.lock = threading.Lock()

    def hit(self, client: redis.Redis, key: str, window: int, *, limit: int, ttl: int) -> bool:
        with self.lock:
            held = self.held.get(key)
            if held is not None and held[0] == window and held[1] != 0:
                if held[1] < 0:
                    return False
                self.held[key] = (window, held[1] - 1)
                return True
        lease = lease_size(limit)
        bucket = f"{PREFIX}{key}:{window}"
        pipe = client.pipeline(transaction=False)
        pipe.incrby(bucket, lease)
        pipe.expire(bucket, ttl, nx=True)
        count, _ = pipe.execute()
        granted = max(0, min(lease, limit - (count - lease)))  # the part of this lease inside the limit
        with self.lock:
            if len(self.held) > 10_000:
                self.held.clear()
            held = self.held.get(key)
            # Another thread of this process may have leased meanwhile: its hits count too.
            left = granted + (held[1] if held is not None and held[0] == window and held[1] > 0 else 0)
            self.held[key] = (window, left - 1 if left else -1)
            return left > 0


_leases = Leases()


def _cache_count(bucket: str, ttl: int) -> int:
    if cache.add(bucket, 1, timeout=ttl):
        return 1
    try:
        return cache.incr(bucket)
    except ValueError:  # the bucket expired between add and incr
        cache.add(bucket, 1, timeout=ttl)
        return 1
