"""How close the platform comes to the machine's limit: each headline figure beside the same work without
the platform's overhead, on the same server, workers and load generator, measured in the same run,
alternating project and limit (A, B, A, B …). Prints one line per pair:

    LIMIT <name> project=<figure> limit=<figure> ratio=<r> p99_project=<ms> p99_limit=<ms>

(the medians over the rounds; ratio = project / limit, higher is better, 1.0 is the limit itself).

- gateway: audited reads by key on the gateway's own server (granian 2 x 2, 32 keep-alive clients, a
  checkpoint process beside it) against one prepared SELECT of the same row on the same granian set-up;
- submissions: GovStack submissions on gunicorn 5 x 1 against one prepared INSERT of a case row into a
  table like ``cases_case`` with all its indexes, on gunicorn 5 x 1, with the same bodies and keys;
- appends: durable audit-log appends in batches of 5,000 against COPY of the same rows into a table like
  the log's, one commit per batch;
- load: the registry loader on 1,000,000 rows from CSV (validation, upsert, history) against COPY of the same
  CSV into an unlogged table;
- hello: the same granian server answering without a database, the HTTP ceiling (printed beside the
  gateway; no ratio).

PostgreSQL only (DATABASE_URL, a scratch database: it is flushed). bench/README.md says why each limit is
the fair one.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from bench.common import KeepAliveClient, Load, client_token, run_load, serve, stop

ROUNDS = 2
PAIRS = ["gateway", "submissions", "appends", "load"]


def _dsn() -> dict[str, str]:
    db = settings.DATABASES["default"]
    return {
        "BENCH_LIMIT_DSN": f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} dbname={db['NAME']} "
        f"user={db['USER']} password={db['PASSWORD']}"
    }


def _line(name: str, project: list[float], limit: list[float], unit: str, p99s: tuple[list, list]) -> tuple:
    a, b = statistics.median(project), statistics.median(limit)
    p99_a = f"{statistics.median(p99s[0]):.1f}" if p99s[0] else "-"
    p99_b = f"{statistics.median(p99s[1]):.1f}" if p99s[1] else "-"
    return (
        f"LIMIT {name}",
        f"project={a:,.0f}{unit} limit={b:,.0f}{unit} ratio={a / b:.2f} p99_project={p99_a} p99_limit={p99_b}",
    )


def _round(i: int, name: str, what: str, figure: str) -> tuple[str, str]:
    return (f"  round {i + 1} {name}: {what}", figure)


def _gateway(scale: float) -> list[tuple[str, str]]:
    from bench import exchange

    client, secret, numbers = exchange._setup()
    token = client_token(None, client, secret, "exchange.read")
    rng = random.Random(13)
    n = max(300, int(exchange.N_CALLS * scale))
    rates: tuple[list[float], list[float]] = ([], [])
    p99s: tuple[list[float], list[float]] = ([], [])
    hello: list[Load] = []
    figures = []

    def read(conn: KeepAliveClient, key: str) -> tuple[int, bool]:
        status, body = conn.get(f"/read/{key}")
        return status, status == 200 and key.encode() in body

    def ping(conn: KeepAliveClient, _job: Any) -> tuple[int, bool]:
        status, _body = conn.get("/hello")
        return status, status == 200

    for i in range(ROUNDS):
        server, base = exchange._serve_gateway()
        try:
            with exchange._beat():
                load, checks = exchange.gateway_calls(base, token, numbers, scale)
        finally:
            stop(server)
        rates[0].append(load.rate)
        p99s[0].append(load.p99)
        figures += [_round(i, "gateway", "project", checks[0][1]), _round(i, "gateway", *checks[1])]
        server, base = serve(workers=2, threads=2, command="granian", module="bench.limits.serve", env=_dsn())
        try:
            run_load(base, {}, [rng.choice(numbers) for _ in range(exchange.WARMUP)], read)
            bare = run_load(base, {}, [rng.choice(numbers) for _ in range(n)], read)
            hello.append(run_load(base, {}, list(range(n)), ping))
        finally:
            stop(server)
        rates[1].append(bare.rate)
        p99s[1].append(bare.p99)
        figures.append(
            _round(
                i,
                "gateway",
                "bare SELECT",
                f"{bare.rate:,.0f}/s p99 {bare.p99:.1f} ms, {len(bare.failures)} failed",
            )
        )
    figures.append(_line("gateway", rates[0], rates[1], "/s", p99s))
    figures.append(
        (
            "LIMIT hello",
            f"limit={statistics.median(h.rate for h in hello):,.0f}/s "
            f"p99_limit={statistics.median(h.p99 for h in hello):.1f} (the same granian server, no database)",
        )
    )
    return figures


def _submissions(scale: float) -> list[tuple[str, str]]:
    from bench import cases

    cases._setup()
    rates: tuple[list[float], list[float]] = ([], [])
    p99s: tuple[list[float], list[float]] = ([], [])
    figures = []
    n = max(200, int(cases.N_SUBMISSIONS * scale))
    body = json.dumps({"applicantId": str(uuid.uuid4()), "formData": {"data": {"a": 1}}}).encode()

    def insert(conn: KeepAliveClient, key: str) -> tuple[int, bool]:
        status, _body = conn.post(
            "/insert", body, {"Idempotency-Key": key, "Content-Type": "application/json"}
        )
        return status, status == 200

    for i in range(ROUNDS):
        server, base = serve(workers=5, threads=1)
        try:
            load, checks = cases.submissions(base, scale)
            # The bare insert takes the body of a real submission (its size and its JSON to parse).
            from tongban.cases.models import Case

            body = json.dumps(
                {"applicantId": str(uuid.uuid4()), "formData": {"data": Case.objects.latest("id").answers}}
            ).encode()
        finally:
            stop(server)
        rates[0].append(load.rate)
        p99s[0].append(load.p99)
        figures += [_round(i, "submissions", "project", checks[0][1]), _round(i, "submissions", *checks[1])]
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_limit_case")
            cursor.execute("CREATE TABLE bench_limit_case (LIKE cases_case INCLUDING ALL)")
        server, base = serve(
            workers=5, threads=1, command="gunicorn", module="bench.limits.serve", env=_dsn()
        )
        try:
            run_load(base, {}, [uuid.uuid4().hex for _ in range(cases.WARMUP)], insert)
            keys = [uuid.uuid4().hex for _ in range(n)]
            plan = keys + keys[::20]  # the same share of retries as the project's plan
            random.Random(5).shuffle(plan)
            bare = run_load(base, {}, plan, insert)
        finally:
            stop(server)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), count(*) FILTER (WHERE idempotency_key <> '') FROM bench_limit_case"
            )
            stored, _keyed = cursor.fetchone()
            cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'bench_limit_case'")
            indexes = cursor.fetchone()[0]
        rates[1].append(bare.rate)
        p99s[1].append(bare.p99)
        figures.append(
            _round(
                i,
                "submissions",
                f"bare INSERT ({indexes} indexes)",
                f"{bare.rate:,.0f}/s p99 {bare.p99:.1f} ms, {stored:,} rows for {n + cases.WARMUP:,} keys, "
                f"{len(bare.failures)} failed",
            )
        )
    figures.append(_line("submissions", rates[0], rates[1], "/s", p99s))
    return figures


def _appends(scale: float) -> list[tuple[str, str]]:
    from bench import exchange
    from tongban.exchange import auditlog

    n = max(10_000, int(exchange.N_APPEND * scale))
    batch = 5000
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_limit_log")
        cursor.execute("CREATE TABLE bench_limit_log (LIKE exchange_logentry INCLUDING ALL)")
    rates: tuple[list[float], list[float]] = ([], [])
    figures = []
    for i in range(ROUNDS):
        t = time.perf_counter()
        for start in range(0, n, batch):
            with transaction.atomic():
                auditlog.log_append_many(("bench", {"n": start + j, "client": "bench"}) for j in range(batch))
        rates[0].append(n / (time.perf_counter() - t))
        t = time.perf_counter()
        for start in range(0, n, batch):
            now = dt.datetime.now(dt.UTC)
            with (
                transaction.atomic(),
                connection.cursor() as cursor,
                cursor.cursor.copy("COPY bench_limit_log (kind, leaf, at) FROM STDIN") as copy,
            ):
                for j in range(batch):
                    leaf = json.dumps(
                        {"client": "bench", "kind": "bench", "n": start + j}, separators=(",", ":")
                    )
                    copy.write_row(("bench", leaf, now))
        rates[1].append(n / (time.perf_counter() - t))
        figures.append(
            _round(i, "appends", "project / COPY", f"{rates[0][-1]:,.0f}/s / {rates[1][-1]:,.0f}/s")
        )
    figures.append(_line("appends", rates[0], rates[1], "/s", ([], [])))
    return figures


def _load(scale: float) -> list[tuple[str, str]]:
    from django.core.management import call_command

    from bench import registries
    from tongban.identity.demo import build_demo_city
    from tongban.identity.models import Department
    from tongban.registries import loader
    from tongban.registries.models import LoadJob, PersonRecord, RecordChange, Registry, RegistryKind

    call_command("flush", interactive=False, verbosity=0)
    build_demo_city()
    registry = Registry.objects.create(
        code="population",
        name="人口库",
        kind=RegistryKind.POPULATION,
        owner=Department.objects.get(code="ljs-gaj"),
        key_field="id_number",
    )
    n = max(10_000, int(registries.N_PEOPLE * scale))
    path = registries._csv(n, random.Random(11))
    header = path.open(encoding="utf-8").readline().strip().split(",")
    rates: tuple[list[float], list[float]] = ([], [])
    figures = []
    tables = ", ".join(m._meta.db_table for m in (RecordChange, LoadJob, PersonRecord))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_limit_people")
        cursor.execute(f"CREATE UNLOGGED TABLE bench_limit_people ({', '.join(f'{c} text' for c in header)})")
    for i in range(ROUNDS):
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables} CASCADE")
        t = time.perf_counter()
        with path.open("rb") as fh:
            report = loader.load(registry, loader.read_rows(path.name, fh.read()), source="bench")
        seconds = time.perf_counter() - t
        rates[0].append(n / seconds)
        stored = PersonRecord.objects.count()
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE bench_limit_people")
        t = time.perf_counter()
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            path.open("rb") as fh,
            cursor.cursor.copy("COPY bench_limit_people FROM STDIN (FORMAT csv, HEADER true)") as copy,
        ):
            while chunk := fh.read(1 << 20):
                copy.write(chunk)
        copy_seconds = time.perf_counter() - t
        rates[1].append(n / copy_seconds)
        figures.append(
            _round(
                i,
                "load",
                f"project / COPY, {n:,} rows",
                f"{seconds:.1f} s ({report.accepted:,} accepted, {report.rejected} rejected, {stored:,} stored) "
                f"/ {copy_seconds:.2f} s",
            )
        )
    path.unlink()
    figures.append(_line("load", rates[0], rates[1], " rows/s", ([], [])))
    return figures


RUNNERS: dict[str, Callable[[float], list[tuple[str, str]]]] = {
    "gateway": _gateway,
    "submissions": _submissions,
    "appends": _appends,
    "load": _load,
}


def run(scale: float = 1.0, only: str = "") -> list[tuple[str, str]]:
    """``only``: gateway, submissions, appends or load (default: all four)."""
    from django.core.management import call_command
    from django.test import override_settings

    if connection.vendor != "postgresql":
        return [("limits", "PostgreSQL only: set DATABASE_URL to a scratch PostgreSQL database")]
    call_command("migrate", verbosity=0)
    figures: list[tuple[str, str]] = []
    # As in production: checkpoints come from the beat task, not after every commit as in the demo.
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
        for name in [only] if only else PAIRS:
            figures += RUNNERS[name](scale)
    return figures
