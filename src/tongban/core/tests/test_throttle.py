"""Fixed-window counters: in Redis (production, a real server) and through the cache (demo, tests)."""

import os
import threading
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


def _redis_client():
    return redis.Redis.from_url(REDIS_URL)


def test_lease_sizes_keep_small_limits_exact():
    assert [throttle.lease_size(n) for n in (0, 5, 30, 99, 100, 600, 6000)] == [1, 1, 1, 1, 2, 12, 32]


def test_two_processes_with_leases_admit_exactly_the_limit_between_them():
    client, key = _redis_client(), f"test:{uuid.uuid4().hex}"
    first, second = throttle.Leases(), throttle.Leases()  # as two worker processes
    admitted = [0, 0]
    for _ in range(150):
        for i, process in enumerate((first, second)):
            admitted[i] += process.hit(client, key, 7, limit=200, ttl=65)
    assert sum(admitted) == 200 and min(admitted) > 0
    assert int(client.get(f"{throttle.PREFIX}{key}:7")) <= 200 + 2 * throttle.lease_size(200)


def test_a_spent_window_is_refused_without_asking_redis_again():
    client, key = _redis_client(), f"test:{uuid.uuid4().hex}"
    process = throttle.Leases()
    assert sum(process.hit(client, key, 1, limit=120, ttl=65) for _ in range(130)) == 120
    bucket = f"{throttle.PREFIX}{key}:1"
    counted = int(client.get(bucket))
    assert not any(process.hit(client, key, 1, limit=120, ttl=65) for _ in range(50))
    assert int(client.get(bucket)) == counted
    assert process.hit(client, key, 2, limit=120, ttl=65)  # the next window starts afresh


def test_threads_of_one_process_share_its_leases_without_overrunning():
    client, key = _redis_client(), f"test:{uuid.uuid4().hex}"
    process = throttle.Leases()
    results: list[bool] = []

    def hammer() -> None:
        local = [process.hit(client, key, 3, limit=500, ttl=65) for _ in range(100)]
        results.extend(local)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 800 and sum(results) == 500


def test_a_redis_that_stops_answering_fails_the_hit_instead_of_hanging(settings):
    import socket
    import time

    silent = socket.socket()  # accepts connections (the kernel's backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        settings.REDIS_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        settings.REDIS_TIMEOUT = 0.5
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            throttle.throttle_hit(f"test:{uuid.uuid4().hex}", limit=10, window_seconds=60)
        assert time.monotonic() - started < 3
    finally:
        silent.close()


def test_the_cache_gives_up_on_a_silent_redis_after_the_timeout_too():
    """The production settings' cache, in a process of its own, against a Redis that never answers."""
    import socket
    import subprocess
    import sys

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    code = (
        "import django; django.setup(); from django.core.cache import cache\n"
        "try:\n    cache.get('x')\nexcept Exception as exc:\n    print(type(exc).__name__)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tongban.settings.demo",
        "REDIS_URL": f"redis://127.0.0.1:{silent.getsockname()[1]}/0",
        "TONGBAN_REDIS_TIMEOUT": "0.5",
    }
    try:
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
        )
    finally:
        silent.close()
    assert result.stdout.strip() == "TimeoutError", result.stderr[-2000:]


def test_throttle_client_counts_each_client_behind_the_proxy_apart(settings):
    from django.test import RequestFactory

    settings.TONGBAN_TRUSTED_PROXIES = 1
    settings.REDIS_URL = None

    def request(client):
        return RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=client)

    scope = f"test:{uuid.uuid4().hex}"
    hits = [
        throttle.throttle_client(request("198.51.100.7"), scope, limit=2, window_seconds=60) for _ in range(3)
    ]
    assert hits == [True, True, False]
    assert throttle.throttle_client(request("198.51.100.8"), scope, limit=2, window_seconds=60)
    # One IPv6 subscriber (a /64) is one client, whichever of its addresses it takes.
    assert throttle.throttle_client(request("2001:db8:1:2::1"), scope, limit=1, window_seconds=60)
    assert not throttle.throttle_client(request("2001:db8:1:2::ffff"), scope, limit=1, window_seconds=60)
