"""Fixtures shared by every app's tests."""

import pytest
from django.core.cache import cache
from django.db import connection

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
    # The gateway keeps catalogue entries, grants and the checkpoint per process for a few seconds, cases
    # published versions and department ids for a minute, the API checked tokens (core.cache); each test has
    # a database of its own, with the same primary keys.
    from tongban.core.cache import clear_all

    clear_all()


class SmsOutage:
    """Switches the SMS gateway to a registered fake whose gateway is unreachable, and back."""

    def __init__(self, settings) -> None:
        self.settings = settings

    def _use(self, plugin_id: str) -> None:
        self.settings.TONGBAN_PLUGINS = {**self.settings.TONGBAN_PLUGINS, "sms": {"id": plugin_id}}

    def down(self) -> None:
        self._use("test-down")

    def up(self) -> None:
        self._use("outbox")


class DownGateway(notify.SmsGateway):
    """An SMS gateway adapter whose gateway is unreachable."""

    def send(self, phone: str, text: str) -> None:
        raise ConnectionError("gateway unreachable")


@pytest.fixture
def sms_outage(settings):
    """``sms_outage.down()``: sending an SMS raises, as an unreachable gateway does; ``up()``: it works."""
    with notify.sms_gateways.registered("test-down", DownGateway):
        yield SmsOutage(settings)


@pytest.fixture
def calendar(db, django_capture_on_commit_callbacks):
    from tongban.core.services import calendar_seed_official, calendar_year_provisional

    with django_capture_on_commit_callbacks(execute=True):
        years = calendar_seed_official()
        calendar_year_provisional(acting_user=None, year=max(years) + 1)


@pytest.fixture(autouse=True)
def _log_starts_at_zero(request):
    """PostgreSQL does not roll identity values back with the test's transaction; the audit log's leaf index
    is its identity value, so each test's log starts at leaf 0 again (any app's test may append to it)."""
    if "db" not in request.fixturenames and not request.node.get_closest_marker("django_db"):
        yield
        return
    request.getfixturevalue("db")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE exchange_logentry ALTER COLUMN id RESTART WITH 1")
    else:
        _ensure_sqlite_triggers()
    yield


LOG_TABLES = ("exchange_logentry", "exchange_lognode", "exchange_checkpoint")


def _ensure_sqlite_triggers():
    # The same triggers as migration 0002; a browser test drops the DELETE ones so its database can be
    # emptied afterwards (SQLite flushes with DELETE, PostgreSQL with TRUNCATE, which they do not stop).
    with connection.cursor() as cursor:
        for table in LOG_TABLES:
            for action in ("UPDATE", "DELETE"):
                cursor.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
                )


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
