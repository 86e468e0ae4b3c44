"""The PostgreSQL backend pings a persistent connection at most once a second, not before every request."""

import pytest
from django.db import connection, connections

from tongban.core.postgresql import base

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend")


def test_a_connection_is_pinged_at_most_once_a_second(db, monkeypatch):
    connection = connections["default"]
    assert isinstance(connection, base.DatabaseWrapper) and connection.health_check_enabled
    clock = [1000.0]
    monkeypatch.setattr(base.time, "monotonic", lambda: clock[0])
    pings = []
    usable = connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: pings.append(clock[0]) or usable())
    connection.ensure_connection()
    connection._checked_at = float("-inf")

    def request_at(t: float) -> None:
        clock[0] = t
        connection.health_check_done = False  # what Django does at each request's start and end
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    for t in (1000.0, 1000.4, 1000.9, 1001.05, 1001.5, 1060.0):
        request_at(t)
    assert pings == [1000.0, 1001.05, 1060.0]


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


HOT = "SELECT count(*) FROM identity_department WHERE code = %s"


def test_hot_statements_are_prepared_once_per_connection_and_nothing_else_is(db):
    from tongban.core import statements

    for _ in range(3):
        with statements.cursor() as cursor:
            cursor.execute(HOT, ["ljs-gaj"])
            assert cursor.fetchone() == (0,)
    for _ in range(10):  # Django's own cursors: never prepared, however often a statement runs
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM identity_department WHERE name = %s", ["x"])
    prepared = _prepared()
    assert [s for s in prepared if "identity_department" in s] == [HOT.replace("%s", "$1")]


def test_prepared_statements_survive_a_rollback(db):
    from django.db import transaction

    from tongban.core import statements

    with statements.cursor() as cursor:
        cursor.execute(HOT, ["a"])
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        with statements.cursor() as cursor:
            cursor.execute(HOT, ["b"])
        1 / 0  # noqa: B018
    with statements.cursor() as cursor:  # prepared again after the rollback dropped it
        cursor.execute(HOT, ["c"])
        assert cursor.fetchone() == (0,)
    assert HOT.replace("%s", "$1") in _prepared()


def test_prepared_statements_can_be_turned_off(db, settings):
    from tongban.core import statements

    settings.TONGBAN_DB_PREPARED = False
    with statements.cursor() as cursor:
        cursor.execute(HOT + " AND id > %s", ["a", 0])
    assert not any("id > $2" in s for s in _prepared())
