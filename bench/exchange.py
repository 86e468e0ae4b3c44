"""Data sharing at scale: audited gateway calls over HTTP under 32 concurrent clients (grant check, field
filtering, masking, Merkle append, receipt; every call counted in the log after), durable batched appends
to the audit log, and inclusion / consistency proofs at 10,000,000 entries.

Uses the run's database (SQLite file by default; DATABASE_URL for PostgreSQL, which the targets are stated
for: it must be a scratch database, the benchmark flushes it)."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

from django.core.management import call_command
from django.db import connection, transaction

from bench.common import KeepAliveClient, Load, client_token, percentile, run_load, serve

N_CALLS = 12_000
CLIENTS = 32
WARMUP = 1000
N_PEOPLE = 20_000
N_APPEND = 200_000
N_LOG = 10_000_000
N_BULK = 1_000_000
BULK_BATCH = 50_000


def _setup() -> tuple[object, str, list[str]]:
    from tongban.core import codes
    from tongban.core.services import calendar_seed_official, calendar_year_provisional
    from tongban.exchange import services
    from tongban.exchange.models import ShareType
    from tongban.identity.models import Department
    from tongban.identity.services import system_client_create
    from tongban.identity.tests.factories import AreaFactory, DepartmentFactory
    from tongban.registries import loader
    from tongban.registries.models import Registry, RegistryKind

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    years = calendar_seed_official()
    calendar_year_provisional(acting_user=None, year=max(years) + 1)
    area = AreaFactory(code="339900", name="临江市")
    from django.conf import settings

    DepartmentFactory(code=settings.TONGBAN_EXCHANGE_OPERATOR, name="临江市数据局", area=area)
    police = DepartmentFactory(code="ljs-gaj", name="临江市公安局", area=area)
    health = DepartmentFactory(code="ljs-wjw", name="临江市卫生健康委员会", area=area)
    registry = Registry.objects.create(
        code="population", name="人口库", kind=RegistryKind.POPULATION, owner=police, key_field="id_number"
    )
    start = dt.date(1960, 1, 1)
    numbers = [
        codes.make_resident_id("339902", start + dt.timedelta(days=i // 400), i % 400 * 2 + 1)
        for i in range(N_PEOPLE)
    ]
    rows = [
        {"id_number": n, "name": f"居民{i}", "phone": f"139{i:08d}", "area_code": "339902", "sex": "1"}
        for i, n in enumerate(numbers)
    ]
    loader.load(registry, rows, source="bench", batch_size=5000)
    resource = services.resource_create(
        acting_user=None,
        registry=registry,
        code="person-contact",
        name="人口联系信息",
        share_type=ShareType.CONDITIONAL,
        fields=[
            ("id_number", "公民身份号码", 3),
            ("name", "姓名", 2),
            ("phone", "联系电话", 4),
            ("area_code", "区划", 1),
        ],
        legal_basis="bench",
        area_field="area_code",
    )
    request = services.share_request_submit(
        acting_user=None,
        resource=resource,
        consumer=Department.objects.get(pk=health.pk),
        purpose="bench",
        legal_basis="bench",
        fields=["id_number", "name", "phone", "area_code"],
        scope_areas=["339900"],
        rate_per_minute=60_000,
    )
    services.share_request_answer(acting_user=None, share_request=request, approve=True)
    client, secret = system_client_create(
        acting_user=None, department=health, name="bench", scopes=["exchange.read"]
    )
    return client, secret, numbers


def _serve_gateway() -> tuple[subprocess.Popen, str]:
    """The gateway's own server (granian), where the reverse proxy sends /api/exchange/ in production,
    with settings as in production but for TLS: the cache and the rate counters in Redis."""
    return serve(workers=2, threads=2, command="serve_gateway")


BEAT = """
import time, django
django.setup()
from django.test import override_settings
from tongban.exchange import auditlog
with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
    auditlog.checkpoint_sign()
    print("ready", flush=True)
    while True:
        time.sleep({seconds})
        auditlog.checkpoint_sign()
"""


@contextlib.contextmanager
def _beat(seconds: float = 2.0) -> Iterator[None]:
    """What Celery beat and a worker do in production while the gateway serves, in a process of their
    own: integrate the log and sign a checkpoint every couple of seconds (on the same two cores)."""
    beat = subprocess.Popen(
        [sys.executable, "-c", BEAT.format(seconds=seconds)], env=os.environ.copy(), stdout=subprocess.PIPE
    )
    try:
        # Beat runs for days in production: its start-up (imports, a first integration) is not timed.
        if beat.stdout.readline().strip() != b"ready":
            raise RuntimeError("the checkpoint process did not start")
        yield
    finally:
        beat.terminate()
        beat.wait(timeout=10)


def gateway_calls(
    base: str, token: str, numbers: list[str], scale: float
) -> tuple[Load, list[tuple[str, str]]]:
    """Audited reads by key on the gateway at ``base`` (warm-up first); the timed load and the figures,
    log entries counted after."""
    from tongban.exchange.models import DataAccess, LogEntry

    n = max(300, int(N_CALLS * scale))
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {token}", "Information-Mediator-Client": "CN/GOV/ljs-wjw/bench"}

    def send(conn: KeepAliveClient, key: str) -> tuple[int, bool]:
        status, body = conn.get(f"/api/exchange/gateway/person-contact/records/{key}?purpose=bench")
        return status, status == 200 and b'"log_index"' in body

    run_load(base, headers, [rng.choice(numbers) for _ in range(WARMUP)], send, CLIENTS)
    before = LogEntry.objects.count()
    timed = run_load(base, headers, [rng.choice(numbers) for _ in range(n)], send, CLIENTS)
    logged = LogEntry.objects.count() - before
    db = connection.vendor
    return timed, [
        (
            f"[{db}] audited gateway calls, {CLIENTS} clients, {n:,} timed",
            f"{timed.rate:,.0f}/s  p50 {timed.p50:.1f} ms  p99 {timed.p99:.1f} ms",
        ),
        (
            f"[{db}] log entries for the timed calls (expected {n:,}), tracker rows, non-200",
            f"{logged:,} entries, {DataAccess.objects.count():,} tracker rows, {len(timed.failures)} failed",
        ),
    ]


def _bulk_setup(scale: float) -> tuple[object, str, int]:
    """A million more residents across four districts, a resource offered for bulk subscription, and a
    client of a city department and one of a district."""
    from tongban.core import codes
    from tongban.exchange import services
    from tongban.exchange.models import ShareType
    from tongban.identity.models import Department
    from tongban.identity.tests.factories import AreaFactory, DepartmentFactory
    from tongban.registries import loader
    from tongban.registries.models import Registry

    n = max(20_000, int(N_BULK * scale))
    registry = Registry.objects.get(code="population")
    districts = ["339902", "339903", "339904", "339921"]
    start = dt.date(1940, 1, 1)

    def rows():
        for i in range(n):
            area = districts[i % 4]
            yield {
                "id_number": codes.make_resident_id(area, start + dt.timedelta(days=i // 900), i % 900 + 1),
                "name": f"居民{i}",
                "sex": "1" if i % 2 else "2",
                "birth_date": (start + dt.timedelta(days=i // 900)).isoformat(),
                "area_code": area,
                "phone": f"138{i:08d}",
            }

    started = time.perf_counter()
    loader.load(registry, rows(), source="bench-bulk", batch_size=50_000)
    load_seconds = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # what autovacuum does after a load this size
            cursor.execute("ANALYZE registries_personrecord")
    services.resource_create(
        acting_user=None,
        registry=registry,
        code="person-basic",
        name="人口基本信息",
        share_type=ShareType.UNCONDITIONAL,
        fields=[
            ("id_number", "公民身份号码", 3),
            ("name", "姓名", 2),
            ("sex", "性别", 1),
            ("birth_date", "出生日期", 2),
            ("area_code", "户籍地", 1),
            ("status", "状态", 1),
        ],
        area_field="area_code",
        via_bulk=True,
    )
    city = Department.objects.get(code="ljs-wjw")
    district = DepartmentFactory(
        code="jc-wjw",
        name="江城区卫生健康局",
        area=AreaFactory(code="339902", name="江城区", parent=city.area),
        level="county",
        parent=city,
    )
    return district, f"{n:,} residents loaded in {load_seconds:.1f} s", n


def _pull(base: str, token: str, subscription: int) -> tuple[int, float, int]:
    """Pull a subscription from 0 to the end as its subscriber would: (rows, seconds, batches)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    headers = {"Authorization": f"Bearer {token}"}
    after, rows, batches = 0, 0, 0
    started = time.perf_counter()
    while True:
        conn.request(
            "GET",
            f"/api/exchange/subscriptions/{subscription}/feed?after={after}&limit={BULK_BATCH}",
            headers=headers,
        )
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"feed answered {response.status}: {body[:200]!r}")
        lines = body.splitlines()
        rows += len(lines)
        batches += 1
        if lines:  # the consumer reads every line; the first and last are parsed to follow the cursor
            json.loads(lines[0]), json.loads(lines[-1])
        after = int(response.getheader("Tongban-Next-After"))
        if response.getheader("Tongban-More") == "false":
            break
    seconds = time.perf_counter() - started
    conn.close()
    return rows, seconds, batches


def _bulk(scale: float) -> list[tuple[str, str]]:
    from tongban.exchange import bulk
    from tongban.identity.models import SystemClient
    from tongban.identity.services import system_client_create

    district, loaded, _n = _bulk_setup(scale)
    city_client = SystemClient.objects.filter(department__code="ljs-wjw").first()
    city_client, city_secret = system_client_create(
        acting_user=None, department=city_client.department, name="bench-bulk", scopes=["exchange.read"]
    )
    district_client, district_secret = system_client_create(
        acting_user=None, department=district, name="bench-district", scopes=["exchange.read"]
    )
    whole = bulk.subscription_create(client=city_client, resource_code="person-basic", purpose="bench")
    own = bulk.subscription_create(client=district_client, resource_code="person-basic", purpose="bench")
    server, base = _serve_gateway()
    try:
        city_token = client_token(None, city_client, city_secret, "exchange.read")
        district_token = client_token(None, district_client, district_secret, "exchange.read")
        _pull(base, city_token, whole.pk)  # warm: the table and its index in the cache
        rows, seconds, batches = _pull(base, city_token, whole.pk)
        d_rows, d_seconds, d_batches = _pull(base, district_token, own.pk)
    finally:
        server.terminate()
        server.wait(timeout=10)
    db = connection.vendor
    return [
        (f"[{db}] bulk subscription setup", loaded),
        (
            f"[{db}] bulk subscription, whole city, {BULK_BATCH:,} per batch over HTTP",
            f"{rows / seconds:,.0f} rows/s  ({rows:,} rows in {batches} batches, {seconds:.1f} s)",
        ),
        (
            f"[{db}] return flow to one district (about a quarter)",
            f"{d_rows / d_seconds:,.0f} rows/s  ({d_rows:,} rows in {d_batches} batches, {d_seconds:.1f} s)",
        ),
    ]


def _appends(scale: float) -> list[tuple[str, str]]:
    from tongban.exchange import auditlog

    n = max(10_000, int(N_APPEND * scale))
    batch = 5000
    t = time.perf_counter()
    for start in range(0, n, batch):
        with transaction.atomic():  # one durable commit per batch
            auditlog.log_append_many(("bench", {"n": start + i, "client": "bench"}) for i in range(batch))
    seconds = time.perf_counter() - t
    t = time.perf_counter()
    auditlog.checkpoint_sign()
    integrate = time.perf_counter() - t
    return [
        (
            f"[{connection.vendor}] durable appends, batches of {batch:,} ({n:,} entries)",
            f"{n / seconds:,.0f}/s",
        ),
        ("integration and signed checkpoint over them", f"{integrate:.1f} s"),
    ]


def _bulk_entries(total: int) -> None:
    """Fill the log up to ``total`` entries in SQL (what months of calls would leave)."""
    from tongban.exchange.models import LogEntry

    have = LogEntry.objects.count()
    chunk = 1_000_000
    with connection.cursor() as cursor:
        for start in range(have, total, chunk):
            count = min(chunk, total - start)
            if connection.vendor == "postgresql":
                cursor.execute(
                    "INSERT INTO exchange_logentry (kind, leaf, at) SELECT 'bench', "
                    '\'{"kind":"bench","n":\' || g || \'}\', now() FROM generate_series(%s, %s) g',
                    [start, start + count - 1],
                )
            else:
                cursor.execute(
                    "WITH RECURSIVE g(n) AS (SELECT %s UNION ALL SELECT n + 1 FROM g WHERE n < %s) "
                    "INSERT INTO exchange_logentry (kind, leaf, at) "
                    "SELECT 'bench', '{\"kind\":\"bench\",\"n\":' || n || '}', datetime('now') FROM g",
                    [start, start + count - 1],
                )


def _proofs(scale: float) -> list[tuple[str, str]]:
    from tongban.core import merkle
    from tongban.exchange import auditlog

    total = max(100_000, int(N_LOG * scale))
    t = time.perf_counter()
    _bulk_entries(total)
    fill = time.perf_counter() - t
    t = time.perf_counter()
    checkpoint = auditlog.checkpoint_sign()
    integrate = time.perf_counter() - t
    size = checkpoint.tree_size
    root_hash = bytes(checkpoint.root_hash)
    rng = random.Random(11)
    times, ok = [], 0
    for _ in range(1000):
        index = rng.randrange(size)
        t = time.perf_counter()
        proof = auditlog.inclusion(index, size)
        times.append((time.perf_counter() - t) * 1000)
        from tongban.exchange.models import LogEntry

        leaf = LogEntry.objects.filter(pk=index + 1).values_list("leaf", flat=True).get()
        ok += merkle.verify_inclusion(merkle.leaf_hash(leaf.encode()), index, size, proof, root_hash)
    consistency = []
    for _ in range(100):
        old = rng.randrange(1, size)
        t = time.perf_counter()
        auditlog.consistency(old, size)
        consistency.append((time.perf_counter() - t) * 1000)
    db = connection.vendor
    return [
        (
            f"[{db}] log filled to {size:,} entries in SQL; integration + checkpoint",
            f"{fill:.0f} s; {integrate:.0f} s",
        ),
        (
            f"[{db}] inclusion proof at {size:,} entries (1,000 random leaves)",
            f"p50 {statistics.median(times):.2f} ms  p99 {percentile(times, 0.99):.2f} ms  verified {ok}/1000",
        ),
        (
            f"[{db}] consistency proof at {size:,} entries (100)",
            f"p50 {statistics.median(consistency):.2f} ms  p99 {percentile(consistency, 0.99):.2f} ms",
        ),
    ]


def run(scale: float = 1.0, only: str = "") -> list[tuple[str, str]]:
    """``only``: gateway, bulk, appends or proofs (default: all)."""
    from django.test import override_settings

    # As in production: checkpoints come from the beat task, not after every commit as in the demo.
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
        return _run(scale, only)


def _run(scale: float, only: str) -> list[tuple[str, str]]:
    from tongban.exchange import auditlog

    client, secret, numbers = _setup()
    figures: list[tuple[str, str]] = []
    if only in ("", "gateway"):
        server, base = _serve_gateway()
        try:
            token = client_token(None, client, secret, "exchange.read")  # the platform issues it
            with _beat():
                figures += gateway_calls(base, token, numbers, scale)[1]
        finally:
            server.terminate()
            server.wait(timeout=10)
    if only in ("", "bulk"):
        figures += _bulk(scale)
    auditlog.checkpoint_sign()
    if only in ("", "appends"):
        figures += _appends(scale)
    if only in ("", "proofs"):
        figures += _proofs(scale)
    if only in ("", "proofs"):  # every leaf re-hashed, a chunk at a time
        import resource

        check_started = time.perf_counter()
        result = auditlog.log_check()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        figures.append(
            (
                f"full log check of {result.checked:,} entries",
                f"{'ok' if result.ok else result.problems[:3]} in {time.perf_counter() - check_started:.1f} s, "
                f"peak RSS of the bench process {peak} MiB",
            )
        )
    return figures
