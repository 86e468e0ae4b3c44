"""Django's PostgreSQL backend with a cheaper health check and prepared hot statements (settings ENGINE
``tongban.core.postgresql``).

Health checks: with CONN_HEALTH_CHECKS, Django pings a persistent connection (``SELECT 1``) before the
first query of every request: one more round trip per request, about 8 % of a gateway call's cost. Here a
connection is pinged at most once every ``HEALTH_CHECK_SECONDS``. A server that goes away inside that
second fails the request that meets it, as it would with no health check; Django then drops the connection
(its error check after the request) and the next request reconnects.

Prepared statements: Django turns psycopg's off, so PostgreSQL parses and plans every statement again. For
the few statements every gateway call or submission runs (``core.statements.cursor``), that was half of
the server's CPU per call. ``prepared_cursor`` binds parameters on the server and prepares each statement on
its connection the first time it runs; nothing else is ever prepared. Behind a pooler in transaction mode
(PgBouncer before 1.21, or without ``max_prepared_statements``) set ``TONGBAN_DB_PREPARED=0``."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db.backends.postgresql import base
from django.utils.asyncio import async_unsafe

HEALTH_CHECK_SECONDS = 1.0
# psycopg prepares a statement once it has run this many times; Django's "never" (None) would also refuse
# the statements asked for by name, so: only those.
ONLY_WHEN_ASKED = 2**31 - 1


class PreparedCursor(base.ServerBindingCursor):
    def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None, **kwargs: Any) -> Any:
        return super().execute(query, params, prepare=True if prepare is None else prepare, **kwargs)


class DatabaseWrapper(base.DatabaseWrapper):
    _checked_at = float("-inf")

    def close_if_health_check_failed(self) -> None:
        if self.connection is None or not self.health_check_enabled or self.health_check_done:
            return
        now = time.monotonic()
        if now - self._checked_at < HEALTH_CHECK_SECONDS:
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
        self._checked_at = now if self.connection is not None else float("-inf")

    def connect(self) -> None:
        super().connect()
        self._checked_at = time.monotonic()  # a new connection has just answered

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        if connection.prepare_threshold is None and self.prepared_enabled:
            connection.prepare_threshold = ONLY_WHEN_ASKED
        return connection

    @property
    def prepared_enabled(self) -> bool:
        return getattr(settings, "TONGBAN_DB_PREPARED", True) and not self.pool

    @async_unsafe
    def prepared_cursor(self) -> Any:
        """A cursor whose statements are prepared on this connection the first time they run (Django's own
        cursor where prepared statements are turned off)."""
        if not self.prepared_enabled:
            return self.cursor()
        self.close_if_health_check_failed()
        self.ensure_connection()
        with self.wrap_database_errors:
            return self._prepare_cursor(PreparedCursor(self.connection))
