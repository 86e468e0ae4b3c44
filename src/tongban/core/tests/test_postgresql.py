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
