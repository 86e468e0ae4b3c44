"""Cases at scale: submissions through the HTTP API under 32 concurrent clients (counted after: no duplicate,
none lost), a department queue page over 100,000 open cases, deadlines for 100,000 cases.

Uses the run's database (SQLite file by default; DATABASE_URL for PostgreSQL, which the target is stated
for: it must be a scratch database, the benchmark flushes it). HTTP goes to a real gunicorn on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
import statistics
import time
import uuid

import requests
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from bench.common import KeepAliveClient, Load, client_token, run_load, serve

N_SUBMISSIONS = 4000
CLIENTS = 32
WARMUP = 256
N_OPEN = 100_000


def _setup() -> None:
    from tongban.catalog.demo import catalogue
    from tongban.catalog.transfer import import_catalogue
    from tongban.core.services import calendar_seed_official, calendar_year_provisional
    from tongban.identity.demo import build_demo_city
    from tongban.licences.demo import licence_types

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    build_demo_city()
    years = calendar_seed_official()
    calendar_year_provisional(acting_user=None, year=max(years) + 1)
    import_catalogue(catalogue())
    licence_types()  # as in the demo city: submissions look up the applicant's licences for the materials


def _record_consent(department, people) -> None:
    """Every applicant authorised the department's window system to file for them, as each would on its
    consent page (OIDC authorization code, scope registration.apply, a client that does not skip the page):
    the authorisations are written directly, one access token each, valid for the run."""
    from oauth2_provider.models import AccessToken

    from tongban.identity.services import system_client_create

    sso, _secret = system_client_create(
        acting_user=None,
        department=department,
        name="bench window sign-in",
        scopes=["openid", "registration.apply"],
        grant_type="authorization-code",
        redirect_uris=["https://window.bench.invalid/oidc/callback"],
    )
    expires = timezone.now() + dt.timedelta(days=1)
    AccessToken.objects.bulk_create(
        [
            AccessToken(
                user=person,
                application=sso.application,
                token=secrets.token_urlsafe(30),
                expires=expires,
                scope="openid registration.apply",
            )
            for person in people
        ],
        batch_size=2000,
    )


def submissions(base: str, scale: float) -> tuple[Load, list[tuple[str, str]]]:
    """Submissions through the GovStack API of the server at ``base`` (warm-up first, then the timed
    plan with retries); the timed load and the figures, cases counted after."""
    from tongban.cases.demo import _answers
    from tongban.cases.models import Case
    from tongban.catalog.models import ServiceItem
    from tongban.identity.models import Department, User
    from tongban.identity.services import system_client_create

    item = ServiceItem.objects.get(published_version__name="出生医学证明签发", department__code="ljs-wjw")
    client, secret = system_client_create(
        acting_user=None,
        department=Department.objects.get(code="ljs-wjw"),
        name="bench",
        scopes=["registration.apply"],
    )
    token = client_token(base, client, secret, "registration.apply")
    applicants = [str(u) for u in User.objects.filter(account_type="public").values_list("uuid", flat=True)]
    _record_consent(Department.objects.get(code="ljs-wjw"), User.objects.filter(account_type="public"))
    rng = random.Random(5)
    answers = _answers(item.published_version.form_schema, rng)
    n = max(200, int(N_SUBMISSIONS * scale))
    keys = [uuid.uuid4().hex for _ in range(n)]
    # One request in twenty repeats an earlier key (a retry after a timeout): it must not add a case.
    plan = [(keys[i], applicants[i % len(applicants)]) for i in range(n)]
    plan += [(keys[i], applicants[i % len(applicants)]) for i in range(0, n, 20)]
    rng.shuffle(plan)
    url = f"{base}/api/registration/services/{item.uuid}/applications"
    headers = {
        "Authorization": f"Bearer {token}",
        "Information-Mediator-Client": "eGovStack/GOV/1/bench",
        "Content-Type": "application/json",
    }
    # The load generator shares the two cores with the server and PostgreSQL: a minimal HTTP client
    # (requests cost a third of the CPU a submission needs, http.client 0.5 ms), bodies encoded up front.
    path = url.removeprefix(base)
    bodies = {
        applicant: json.dumps({"applicantId": applicant, "formData": {"data": answers}}).encode()
        for applicant in set(applicants)
    }

    def send(conn: KeepAliveClient, job: tuple[str, str]) -> tuple[int, bool]:
        key, applicant = job
        status, _body = conn.post(path, bodies[applicant], {"Idempotency-Key": key})
        return status, status == 200

    # Warm every worker first (imports, connections, caches), as a server in service is: not timed.
    warmup = [(uuid.uuid4().hex, applicants[i % len(applicants)]) for i in range(WARMUP)]
    warm = run_load(base, headers, warmup, send, CLIENTS)
    timed = run_load(base, headers, plan, send, CLIENTS)
    failures = warm.failures + timed.failures
    expected = n + WARMUP
    created = Case.objects.filter(parent__isnull=True, idempotency_key__startswith=f"gs:{client.pk}:").count()
    numbers = Case.objects.values("number").distinct().count() == Case.objects.count()
    db = connection.vendor
    return timed, [
        (
            f"[{db}] HTTP submissions, {CLIENTS} clients, {len(plan):,} timed requests ({len(plan) - n} retries)",
            f"{timed.rate:,.0f}/s  p50 {timed.p50:.0f} ms  p99 {timed.p99:.0f} ms",
        ),
        (
            f"[{db}] cases after the run: expected {expected:,} (one per key, {WARMUP} of them warm-up)",
            f"{created:,} created, {len(failures)} non-200, numbers unique: {numbers}",
        ),
    ]


def _bulk_open_cases(n: int) -> None:
    """100,000 open cases waiting for intake in one department (bulk, bypassing the services for speed)."""
    from tongban.cases.models import Case, CaseTask
    from tongban.catalog.models import ServiceItem
    from tongban.core import workdays
    from tongban.identity.models import User

    item = ServiceItem.objects.select_related("published_version", "department").get(
        published_version__name="出生医学证明签发", department__code="ljs-wjw"
    )
    version = item.published_version
    applicants = list(User.objects.filter(account_type="public").values_list("pk", flat=True))
    cal = workdays.calendar()
    today = dt.date.today()
    batch = 5000
    for start in range(0, n, batch):
        cases = Case.objects.bulk_create(
            [
                Case(
                    number=f"BENCH{start + i:012d}",
                    query_code="BENCH1",
                    applicant_id=applicants[i % len(applicants)],
                    item_version=version,
                    department=item.department,
                    title=version.name,
                    answers={},
                    status="in_progress",
                    accepted_on=today,
                    committed_due=cal.add(today, (i % 7) + 1),
                )
                for i in range(min(batch, n - start))
            ]
        )
        CaseTask.objects.bulk_create(
            [
                CaseTask(
                    case=c,
                    step_key="accept",
                    name="受理",
                    kind="accept",
                    department=item.department,
                    role="intake_clerk",
                    status="open",
                    opened_at=timezone.now(),
                    due=c.committed_due,
                )
                for c in cases
            ]
        )


def _staff_session(username: str) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tongban.identity.models import User

    user = User.objects.get(username=username)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "tongban.identity.backends.AccountBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session["otp_device_id"] = TOTPDevice.objects.get(user=user).persistent_id
    session.create()
    return session.session_key


def _send_notices() -> tuple[str, str]:
    from tongban.cases.models import CaseEvent
    from tongban.cases.notify import send_pending_notices
    from tongban.core.models import OutboxMessage
    from tongban.core.notify import send_outbox

    pending = CaseEvent.objects.filter(notice_pending=True).count()
    started = time.perf_counter()
    while send_pending_notices():  # each notice becomes an outbox message (core.OutboxMessage) ...
        pass
    while send_outbox(limit=500):  # ... which the outbox sends, as beat does every few seconds
        pass
    seconds = time.perf_counter() - started
    unsent = OutboxMessage.objects.filter(sent_at__isnull=True).count()
    return (
        f"[{connection.vendor}] notices pending after the run (one per case), moved to the outbox and sent",
        f"{pending:,} pending, sent in {seconds:.1f} s ({pending / seconds:,.0f}/s, SMS outbox file), "
        f"{unsent} unsent",
    )


def run(scale: float = 1.0) -> list[tuple[str, str]]:
    from tongban.cases import services
    from tongban.cases.models import Case

    _setup()
    # As in production (a Celery broker configured, so not eager): notices wait in the case events' outbox
    # for the background task, which is run here after the timed part.
    # Sync workers behind a buffering proxy: on two cores 5 gave the highest rate (4-6 within a few per
    # cent; 8 and threaded workers less) and a far shorter tail than 4 workers x 4 threads (README).
    server, base = serve(workers=5, threads=1)
    try:
        _load, figures = submissions(base, scale)
        figures.append(_send_notices())
        n = max(1000, int(N_OPEN * scale))
        t = time.perf_counter()
        _bulk_open_cases(n)
        load_seconds = time.perf_counter() - t
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE cases_case; ANALYZE cases_casetask")
        cookie = {"sessionid": _staff_session("weijian.shouli")}
        page_ms = []
        session = requests.Session()
        for i in range(30):
            t = time.perf_counter()
            r = session.get(
                f"{base}/staff/cases/",
                params={"queue": "accept", "page": 1 + i % 5},
                cookies=cookie,
                timeout=30,
            )
            page_ms.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200 and "cases/" in r.text, r.status_code
    finally:
        server.terminate()
        server.wait(timeout=10)
    cases = list(
        Case.objects.filter(number__startswith="BENCH").only("committed_due", "status", "accepted_on")
    )
    from tongban.core import workdays

    cal = workdays.calendar()
    t = time.perf_counter()
    for case in cases:
        case.committed_due = cal.add(case.accepted_on, 5)
        services.deadline_state(case)
    deadline_seconds = time.perf_counter() - t
    db = connection.vendor
    return [
        *figures,
        (f"[{db}] load {n:,} open cases for the queue (bulk)", f"{load_seconds:.1f} s"),
        (
            f"[{db}] queue page (to accept) over {n:,} open cases, HTTP, 30 loads",
            f"p50 {statistics.median(page_ms):.0f} ms  max {max(page_ms):.0f} ms",
        ),
        (f"[{db}] deadline (due date + level) for {len(cases):,} cases", f"{deadline_seconds:.2f} s"),
    ]
