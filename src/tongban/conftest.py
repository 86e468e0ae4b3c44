"""Fixtures shared by every app's tests."""

import pytest
from django.core.cache import cache

from tongban.core import notify


@pytest.fixture(autouse=True)
def _clean_state():
    cache.clear()
    notify.outbox.clear()
    _forget_process_caches()
    yield
    cache.clear()
    _forget_process_caches()


def _forget_process_caches():
    # The gateway keeps catalogue entries, grants and the checkpoint per process for a few seconds; each
    # test has a database of its own, with the same primary keys.
    from tongban.exchange import gateway

    gateway._cache.clear()
    gateway.forget_grants()
    gateway._checkpoint = (0.0, None)


def pytest_report_header(config):
    from django.conf import settings

    db = settings.DATABASES["default"]
    return f"database: {db['ENGINE'].rsplit('.', 1)[-1]} {db.get('HOST') or db.get('NAME')}"


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    import os

    # Playwright's sync API keeps an event loop in this thread; the ORM calls in the tests are still sync.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()
