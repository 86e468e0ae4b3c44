"""Licences: verification per second (SM2-SM3 and Ed25519, canonicalisation included, one process),
issuance per second (sign + store, through the service), and the time to render a PDF.

Uses the run's database (SQLite file by default; DATABASE_URL for PostgreSQL, where the issuance target is
stated: a scratch database, the benchmark flushes it)."""

from __future__ import annotations

import statistics
import time

from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from bench.common import percentile

N_VERIFY = {"SM2-SM3": 6000, "Ed25519": 20000}
N_ISSUE = 2000
N_PDF = 30


def run(scale: float = 1.0) -> list[tuple[str, str]]:
    from tongban.identity.demo import build_demo_city
    from tongban.identity.models import User
    from tongban.licences import formats, services
    from tongban.licences.constants import Algorithm
    from tongban.licences.demo import licence_types
    from tongban.licences.verify import verify_file

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    build_demo_city()
    types = {t.name: t for t in licence_types()}
    social = types["社会保障卡"]
    people = list(User.objects.filter(account_type="public").select_related("person"))
    db = connection.vendor
    figures = []

    # Issuance: the whole service (checks, sign with the key store, store, audit), one at a time.
    n_issue = max(100, int(N_ISSUE * scale))
    started = time.perf_counter()
    issued = []
    for i in range(n_issue):
        person = people[i % len(people)].person
        issued.append(
            services.licence_issue(
                acting_user=None,
                licence_type=social,
                holder_name=person.name,
                holder_code=person.id_number,
                face={"card_number": person.id_number, "bank": "临江农商银行"},
            )
        )
    seconds = time.perf_counter() - started
    figures.append(
        (f"[{db}] issue {n_issue:,} licences (SM2-SM3 sign + store + audit)", f"{n_issue / seconds:,.0f}/s")
    )

    # Verification: signature, key validity, identifier check and RFC 8785 canonicalisation, in memory.
    services.seal_key_rotate(acting_user=None, department=social.issuer, algorithm=Algorithm.ED25519)
    ed_docs = []
    for person in [p.person for p in people[:50]]:
        ed_docs.append(
            services.licence_issue(
                acting_user=None,
                licence_type=social,
                holder_name=person.name,
                holder_code=person.id_number,
                face={"card_number": person.id_number, "bank": "临江农商银行"},
            ).document
        )
    directory = services.key_directory()
    today = timezone.localdate()
    pools = {"SM2-SM3": [lic.document for lic in issued[:50]], "Ed25519": ed_docs}
    for algorithm, documents in pools.items():
        assert documents[0]["proof"]["type"] == algorithm
        n = max(200, int(N_VERIFY[algorithm] * scale))
        started = time.perf_counter()
        for i in range(n):
            result = verify_file(documents[i % len(documents)], directory, today=today)
            if not result.valid:
                raise AssertionError(result.reason)
        seconds = time.perf_counter() - started
        figures.append(
            (
                f"verify {n:,} {algorithm} licences (one process, canonicalisation included)",
                f"{n / seconds:,.0f}/s",
            )
        )

    # PDF: Chinese text, seal and QR code; the font subset is built once before timing.
    licence = issued[0]
    formats.render_pdf(licence, "https://zwfw.example.gov.cn")
    times = []
    for _ in range(max(5, int(N_PDF * scale))):
        started = time.perf_counter()
        pdf = formats.render_pdf(licence, "https://zwfw.example.gov.cn")
        times.append((time.perf_counter() - started) * 1000)
    assert pdf.startswith(b"%PDF")
    figures.append(
        (
            f"render a licence PDF ({len(pdf) // 1024} KB), {len(times)} times",
            f"p50 {statistics.median(times):.0f} ms  max {max(times):.0f} ms  (p95 {percentile(times, 0.95):.0f})",
        )
    )
    return figures
