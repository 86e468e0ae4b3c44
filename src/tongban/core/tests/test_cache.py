"""core.cache: the one helper behind the per-process caches (published versions, department ids, checked
tokens, the gateway's catalogue, grants, registry views and checkpoint)."""

import threading

from tongban.core import cache
from tongban.core.cache import TimedCache, clear_all


def test_an_entry_lives_its_seconds_and_none_is_an_answer(monkeypatch):
    kept = TimedCache("test.kept", seconds=2.0)
    calls = []

    def compute():
        calls.append(1)
        return None  # "there is none" is kept too: the gateway caches an unknown resource

    assert kept.get_or_set("a", compute) is None
    assert kept.get_or_set("a", compute) is None
    assert len(calls) == 1
    now = cache.clock()
    monkeypatch.setattr(cache, "clock", lambda: now + 1.99)
    assert kept.get_or_set("a", compute) is None and len(calls) == 1
    monkeypatch.setattr(cache, "clock", lambda: now + 2.01)
    assert kept.get("a", "expired") == "expired"
    assert kept.get_or_set("a", compute) is None and len(calls) == 2


def test_a_full_cache_starts_again_and_clear_all_forgets_every_cache():
    small = TimedCache("test.small", seconds=60.0, size=3)
    other = TimedCache("test.other", seconds=60.0)
    for key in range(3):
        small.set(key, key)
    assert len(small) == 3
    small.set(3, 3)  # full: emptied, then the new entry
    assert (len(small), small.get(0), small.get(3)) == (1, None, 3)
    other.set("x", 1)
    clear_all()
    assert (len(small), len(other)) == (0, 0)


def test_threads_share_one_cache_safely():
    shared = TimedCache("test.shared", seconds=60.0, size=500)
    errors = []

    def work(offset):
        try:
            for i in range(2000):
                key = (offset + i) % 700
                value = shared.get_or_set(key, lambda key=key: key * 2)
                assert value == key * 2
        except Exception as exc:  # pragma: no cover - what the test looks for
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n * 97,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(shared) <= 500
