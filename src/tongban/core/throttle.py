"""Fixed-window request counters in the shared cache (Redis in production, the database otherwise)."""

from __future__ import annotations

import time

from django.core.cache import cache


def throttle_hit(key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one hit for ``key``; False once more than ``limit`` hits fall in the current window."""
    bucket = f"throttle:{key}:{int(time.time() // window_seconds)}"
    if cache.add(bucket, 1, timeout=window_seconds + 5):
        return limit >= 1
    try:
        count = cache.incr(bucket)
    except ValueError:  # the bucket expired between add and incr
        cache.add(bucket, 1, timeout=window_seconds + 5)
        count = 1
    return count <= limit
