"""The limits' own server application: the platform's hot paths' database work without the platform.

One WSGI application, served by the same servers with the same workers as the platform (bench.limits.serve):
- ``GET /hello``: the HTTP ceiling of the server, no database;
- ``GET /read/<key>``: one prepared SELECT of the row the gateway reads (the fields its grant releases),
  answered as JSON: the gateway's limit;
- ``POST /insert``: the JSON body parsed and one prepared INSERT of a case row into ``bench_limit_case``, a
  table made ``LIKE cases_case INCLUDING ALL`` (the same columns, defaults, checks and every index), with
  the values of a real case and fresh unique columns, committed: the submissions' limit.

Each worker thread keeps one psycopg connection (autocommit, statements prepared on first use), as the
platform's workers keep theirs. The database is BENCH_LIMIT_DSN.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

_local = threading.local()
READ = "SELECT id_number, name, phone, area_code FROM registries_personrecord WHERE id_number = %s"


def _conn() -> psycopg.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = psycopg.connect(os.environ["BENCH_LIMIT_DSN"], autocommit=True, prepare_threshold=0)
        _local.conn = conn
    return conn


_insert: tuple[str, list[str], dict[str, Any]] | None = None
_insert_lock = threading.Lock()


def _insert_statement() -> tuple[str, list[str], dict[str, Any]]:
    """The INSERT and a real case's values (read once per process), the columns in table order."""
    global _insert
    with _insert_lock:
        if _insert is None:
            cursor = _conn().execute(
                "SELECT * FROM cases_case WHERE parent_id IS NULL ORDER BY id DESC LIMIT 1"
            )
            names = [d.name for d in cursor.description if d.name != "id"]
            row = dict(zip([d.name for d in cursor.description], cursor.fetchone(), strict=True))
            template = {k: Jsonb(v) if isinstance(v, dict | list) else v for k, v in row.items() if k != "id"}
            sql = (
                f"INSERT INTO bench_limit_case ({', '.join(names)}) "
                f"VALUES ({', '.join(['%s'] * len(names))}) ON CONFLICT DO NOTHING"
            )
            _insert = (sql, names, template)
    return _insert


def _json(start_response: Callable[..., Any], status: str, payload: Any) -> list[bytes]:
    body = json.dumps(payload, ensure_ascii=False).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if path in ("/hello", "/healthz"):
        return _json(start_response, "200 OK", {"ok": True})
    if path.startswith("/read/"):
        row = _conn().execute(READ, [path.removeprefix("/read/")]).fetchone()
        if row is None:
            return _json(start_response, "404 Not Found", {"code": "not_found"})
        return _json(
            start_response, "200 OK", dict(zip(("id_number", "name", "phone", "area_code"), row, strict=True))
        )
    if path == "/insert" and environ["REQUEST_METHOD"] == "POST":
        body = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        sql, names, template = _insert_statement()
        values = {
            **template,
            "uuid": uuid.uuid4(),
            "number": uuid.uuid4().hex[:24],
            "idempotency_key": environ.get("HTTP_IDEMPOTENCY_KEY", ""),
            "answers": Jsonb(body["formData"]["data"]),
        }
        _conn().execute(sql, [values[n] for n in names])
        return _json(start_response, "200 OK", {"fileId": str(values["uuid"])})
    return _json(start_response, "404 Not Found", {"code": "not_found"})
