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
    yield


@pytest.fixture
def calendar(db, django_capture_on_commit_callbacks):
    from tongban.core.services import calendar_seed_official, calendar_year_provisional

    with django_capture_on_commit_callbacks(execute=True):
        years = calendar_seed_official()
        calendar_year_provisional(acting_user=None, year=max(years) + 1)
