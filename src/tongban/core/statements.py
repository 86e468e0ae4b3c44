"""Hot reads as statements written once, for the few queries every submission or gateway call runs.

Django compiles a queryset into SQL on every execution. For a join of two wide models that costs about
1 ms of CPU, five times the query's round trip (``_applicant``: 1.15 ms through the ORM, 0.23 ms as a
plain statement). The helpers here build the column lists from the models' metadata once, so a statement
follows the models, and turn rows back into model instances."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models


@functools.cache
def select_list(model: type[models.Model], alias: str) -> tuple[str, tuple[str, ...]]:
    """``alias."col", …`` for every concrete field of ``model``, and the matching attribute names."""
    quote = connection.ops.quote_name
    fields = model._meta.concrete_fields
    return ", ".join(f"{alias}.{quote(f.column)}" for f in fields), tuple(f.attname for f in fields)


def table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def column(model: type[models.Model], name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def param(model: type[models.Model], name: str, value: Any) -> Any:
    """``value`` as the database takes it for that field (a UUID is text on SQLite, a date too)."""
    return model._meta.get_field(name).get_db_prep_value(value, connection, prepared=False)


@functools.cache
def _converters(model: type[models.Model]) -> tuple[tuple[int, tuple[Any, ...], Any], ...]:
    # What the ORM's compiler applies to each column: the backend's (SQLite's UUIDs, booleans) and the
    # field's own (JSON).
    out = []
    for i, f in enumerate(model._meta.concrete_fields):
        expression = f.get_col(model._meta.db_table)
        found = tuple(connection.ops.get_db_converters(expression)) + tuple(f.get_db_converters(connection))
        if found:
            out.append((i, found, expression))
    return tuple(out)


def from_row(model: type[models.Model], row: Sequence[Any], start: int = 0) -> Any:
    """The instance in ``row[start:]`` (columns as ``select_list``), or None for a LEFT JOIN's nulls."""
    _columns, names = select_list(model, "x")
    values = list(row[start : start + len(names)])
    if values[0] is None:
        return None
    for i, converters, expression in _converters(model):
        for convert in converters:
            values[i] = convert(values[i], expression, connection)
    return model.from_db(DEFAULT_DB_ALIAS, list(names), values)


def cursor(using: str = DEFAULT_DB_ALIAS) -> Any:
    """A cursor for these statements: on PostgreSQL each is prepared on its connection the first time it runs
    (parsed and planned once, not on every call: core.postgresql), elsewhere Django's own."""
    db = connections[using]
    prepared = getattr(db, "prepared_cursor", None)
    return prepared() if prepared is not None else db.cursor()


def placeholders(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))
