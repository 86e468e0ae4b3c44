"""Fixed-window counters: in Redis (production, a real server) and through the cache (demo, tests)."""

import os
import uuid

import pytest
import redis

from tongban.core import throttle

REDIS_URL = os.environ.get("TONGBAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.mark.parametrize("backend", ["redis", "cache"])
def test_hits_over_the_limit_are_refused_per_key_and_window(backend, settings, monkeypatch):
    settings.REDIS_URL = REDIS_URL if backend == "redis" else None
    key = f"test:{uuid.uuid4().hex}"
    now = [1_000_020.0]
    monkeypatch.setattr(throttle.time, "time", lambda: now[0])
    assert [throttle.throttle_hit(key, limit=3, window_seconds=60) for _ in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert throttle.throttle_hit(key + ":other", limit=3, window_seconds=60)  # another key counts apart
    now[0] += 60  # the next window starts afresh
    assert throttle.throttle_hit(key, limit=3, window_seconds=60)
    assert not throttle.throttle_hit(key, limit=0, window_seconds=60)


def test_redis_buckets_expire_after_their_window(settings):
    settings.REDIS_URL = REDIS_URL
    key = f"test:{uuid.uuid4().hex}"
    throttle.throttle_hit(key, limit=10, window_seconds=60)
    client = redis.Redis.from_url(REDIS_URL)
    (bucket,) = client.keys(f"{throttle.PREFIX}{key}:*")
    assert 60 <= client.ttl(bucket) <= 65 and int(client.get(bucket)) == 1
    throttle.throttle_hit(key, limit=10, window_seconds=60)
    assert int(client.get(bucket)) == 2 and client.ttl(bucket) <= 65  # not pushed back by later hits
