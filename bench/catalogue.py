"""Catalogue at scale: import 10,000 published items, then search (service layer and HTTP) and guide pages.

Uses the database of the benchmark run: a throw-away SQLite file by default, or DATABASE_URL (which must be
a scratch database: the benchmark flushes it). The HTTP figures come from a real gunicorn on 127.0.0.1.
"""

from __future__ import annotations

import random
import statistics
import time

import requests
from django.core.management import call_command
from django.db import connection

from bench.common import percentile, serve

N_ITEMS = 10_000
VERBS = ["申请", "办理", "变更", "注销", "补领", "换领", "备案", "审批", "登记", "核发", "延续", "查询"]
OBJECTS = [
    "营业执照",
    "食品经营许可证",
    "出生医学证明",
    "居民身份证",
    "社会保障卡",
    "医疗保险",
    "住房公积金",
    "驾驶证",
    "结婚证",
    "退休证",
    "排污许可证",
    "施工许可证",
    "道路运输证",
    "卫生许可证",
    "教师资格证",
    "残疾人证",
    "不动产权证书",
    "户口",
    "养老金",
    "失业保险金",
    "低保",
    "公租房",
    "网约车驾驶员证",
    "消防检查",
    "法律援助",
    "生育津贴",
    "预防接种证",
    "环评批复",
    "办学许可证",
    "医疗机构执业许可证",
]
PREFIXES = [
    "",
    "个人",
    "企业",
    "个体工商户",
    "外国人",
    "港澳台居民",
    "农村",
    "城镇",
    "高校毕业生",
    "退役军人",
]


def _generated_catalogue(n: int, departments: list[str], rng: random.Random) -> dict:
    from tongban.catalog.demo import M
    from tongban.catalog.demo_fields import THEMES
    from tongban.catalog.tests.factories import content

    theme_codes = [t[0] for t in THEMES]
    items = []
    for i in range(n):
        name = f"{rng.choice(PREFIXES)}{rng.choice(OBJECTS)}{rng.choice(VERBS)}（{i:05d}）"
        items.append(
            {
                "department": departments[i % len(departments)],
                "basic_code": f"20{i // len(departments) + 1:05d}00000",
                "status": "published",
                "version": content(
                    name=name,
                    item_type="20",
                    summary=f"{name}。",
                    legal_basis="《临江市政务服务条例》",
                    keywords=" ".join(rng.sample(OBJECTS, 2)),
                    contact="12345",
                ).fields,
                "materials": [M("id-card", "申请人居民身份证", licence="居民身份证")],
                "themes": rng.sample(theme_codes, 2),
            }
        )
    return {
        "format": "tongban-catalogue/1",
        "themes": [
            {"code": c, "name": n_, "kind": k, "audience": a, "position": j}
            for j, (c, n_, k, a) in enumerate(THEMES)
        ],
        "items": items,
        "life_events": [],
    }


def run(scale: float = 1.0) -> list[tuple[str, str]]:
    from tongban.catalog import search
    from tongban.catalog.models import ServiceItem
    from tongban.catalog.tests.test_search import QUERIES
    from tongban.catalog.transfer import import_catalogue
    from tongban.identity.demo import build_demo_city
    from tongban.identity.models import Department

    n = max(200, int(N_ITEMS * scale))
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    build_demo_city()
    rng = random.Random(3)
    data = _generated_catalogue(n, list(Department.objects.values_list("code", flat=True)), rng)
    search.segment("预热")  # load the dictionary before timing
    started = time.perf_counter()
    report = import_catalogue(data)
    import_seconds = time.perf_counter() - started
    assert report.created == n

    queries = [q for q, _ in QUERIES] + [rng.choice(OBJECTS) + rng.choice(VERBS) for _ in range(60)]
    service_ms = []
    for _ in range(3):
        for q in queries:
            t = time.perf_counter()
            search.search(q)
            service_ms.append((time.perf_counter() - t) * 1000)

    codes = list(ServiceItem.objects.values_list("implementation_code", flat=True)[:200])
    server, base = serve(workers=2, threads=2)
    try:
        session = requests.Session()
        for q in queries[:10]:  # warm both workers
            session.get(f"{base}/api/catalog/items", params={"q": q}, timeout=10)
        http_ms, guide_ms = [], []
        for _ in range(2):
            for q in queries:
                t = time.perf_counter()
                r = session.get(f"{base}/api/catalog/items", params={"q": q}, timeout=10)
                http_ms.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200
        for code in codes:
            t = time.perf_counter()
            r = session.get(f"{base}/services/items/{code}/", timeout=10)
            guide_ms.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=10)
    db = connection.vendor
    return [
        (
            f"[{db}] import {n:,} published items (validate, store, index)",
            f"{import_seconds:.1f} s  ({n / import_seconds:,.0f}/s)",
        ),
        (
            f"[{db}] search, service layer, {len(service_ms)} queries",
            f"p50 {statistics.median(service_ms):.1f} ms  p95 {percentile(service_ms, 0.95):.1f} ms",
        ),
        (
            f"[{db}] search over HTTP (gunicorn), {len(http_ms)} requests",
            f"p50 {statistics.median(http_ms):.1f} ms  p95 {percentile(http_ms, 0.95):.1f} ms",
        ),
        (
            f"[{db}] guide page over HTTP, {len(guide_ms)} pages",
            f"p50 {statistics.median(guide_ms):.1f} ms  p95 {percentile(guide_ms, 0.95):.1f} ms",
        ),
    ]
