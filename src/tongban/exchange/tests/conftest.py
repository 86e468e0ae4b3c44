import pytest
from django.db import connection


@pytest.fixture(autouse=True)
def _log_starts_at_zero(request):
    """PostgreSQL does not roll identity values back with the test's transaction; the log's leaf index is
    its identity value, so each test's log starts at leaf 0 again."""
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


TABLES = ("exchange_logentry", "exchange_lognode", "exchange_checkpoint")


def _ensure_sqlite_triggers():
    # The same triggers as migration 0002; a browser test drops the DELETE ones so its database can be
    # emptied afterwards (SQLite flushes with DELETE, PostgreSQL with TRUNCATE, which they do not stop).
    with connection.cursor() as cursor:
        for table in TABLES:
            for action in ("UPDATE", "DELETE"):
                cursor.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
                )


@pytest.fixture
def log_emptied_after(transactional_db):
    """For tests with real transactions: after the test, the log's tables can be emptied like the others."""
    yield
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for table in TABLES:
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


@pytest.fixture
def calendar(db, django_capture_on_commit_callbacks):
    from tongban.core.services import calendar_seed_official, calendar_year_provisional

    with django_capture_on_commit_callbacks(execute=True):
        years = calendar_seed_official()
        calendar_year_provisional(acting_user=None, year=max(years) + 1)
