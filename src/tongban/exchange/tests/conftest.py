import pytest
from django.db import connection

TABLES = ("exchange_logentry", "exchange_lognode", "exchange_checkpoint")


@pytest.fixture
def log_emptied_after(transactional_db):
    """For tests with real transactions: after the test, the log's tables can be emptied like the others."""
    yield
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for table in TABLES:
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
