"""Fixed-window request counters shared by every process: in Redis when REDIS_URL is set (production), in
the cache otherwise (the database in the demo, memory in tests).

In Redis one hit is one round trip (INCR, and EXPIRE only when the window is new, pipelined) on a client
kept for the process. Through Django's cache API it was three round trips (add, exists, incr) and a new
client object for each. The gateway counts every call, so that cost as much as the rest of the call."""

from __future__ import annotations

import threading
import time

import redis
from django.conf import settings
from django.core.cache import cache

PREFIX = "tongban:throttle:"
_client: redis.Redis | None = None
_client_url = ""
_lock = threading.Lock()


def throttle_hit(key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one hit for ``key``; False once more than ``limit`` hits fall in the current window."""
    bucket = f"{key}:{int(time.time() // window_seconds)}"
    url = getattr(settings, "REDIS_URL", None)
    if url:
        return _redis_count(url, PREFIX + bucket, window_seconds + 5) <= limit
    return _cache_count("throttle:" + bucket, window_seconds + 5) <= limit


def _redis(url: str) -> redis.Redis:
    global _client, _client_url
    if _client is None or _client_url != url:
        with _lock:
            if _client is None or _client_url != url:
                _client, _client_url = redis.Redis.from_url(url), url
    return _client


def _redis_count(url: str, bucket: str, ttl: int) -> int:
    pipe = _redis(url).pipeline(transaction=False)
    pipe.incr(bucket)
    pipe.expire(bucket, ttl, nx=True)
    count, _ = pipe.execute()
    return count


def _cache_count(bucket: str, ttl: int) -> int:
    if cache.add(bucket, 1, timeout=ttl):
        return 1
    try:
        return cache.incr(bucket)
    except ValueError:  # the bucket expired between add and incr
        cache.add(bucket, 1, timeout=ttl)
        return 1
