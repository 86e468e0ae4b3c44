"""Insert one model instance without building an ORM query each time.

A submission inserts a case, its task, its first timeline event and an audit record; building those four
INSERT statements through the ORM compiler cost about a fifth of the request. The statement text depends
only on the model and the database, so it is made once from the model's own field list and reused; the
values go through each field's own ``pre_save`` and ``get_db_prep_save``, exactly as ``Model.save()`` does.
No signals are sent: use it only for models nobody listens to (see the tests)."""

from __future__ import annotations

import functools
from typing import TypeVar

from django.db import connections, models

from tongban.core import statements

M = TypeVar("M", bound=models.Model)


@functools.cache
def _statement(model: type[models.Model], vendor: str) -> tuple[str, tuple[models.Field, ...]]:
    meta = model._meta
    fields = tuple(f for f in meta.concrete_fields if not f.primary_key or not f.auto_created)
    connection = connections["default"]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    returning = f" RETURNING {quote(meta.pk.column)}" if vendor in ("postgresql", "sqlite") else ""
    # Table and column names come from the model (quoted); every value is a parameter.
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders}){returning}"  # noqa: S608
    return sql, fields


def insert(instance: M, *, using: str = "default") -> M:
    """INSERT ``instance`` (a new row, auto primary key) and set its primary key; returns it."""
    connection = connections[using]
    sql, fields = _statement(type(instance), connection.vendor)
    values = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    with statements.cursor(using) as cursor:  # prepared on PostgreSQL: the same few statements all day
        cursor.execute(sql, values)
        pk = cursor.fetchone()[0] if " RETURNING " in sql else cursor.lastrowid
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = using
    return instance
