"""The demo city is realistic, valid by the national standards, and the same every time."""

import pytest
from django.core.management import call_command
from django.db import transaction

from tongban.core import codes
from tongban.identity.constants import AccountType, StaffRoleName
from tongban.identity.demo import build_demo_city
from tongban.identity.models import Department, Organisation, Person, StaffRole, User

pytestmark = pytest.mark.django_db


def test_demo_city_is_big_enough_and_valid():
    logins = build_demo_city()
    assert Department.objects.count() >= 12
    sectors = set(Department.objects.values_list("sector", flat=True))
    assert {
        "公安",
        "民政",
        "卫健",
        "人社",
        "医保",
        "市场监管",
        "税务",
        "住建",
        "教育",
        "交通运输",
        "自然资源",
        "数据",
    } <= sectors
    assert Person.objects.count() >= 200
    assert Organisation.objects.count() >= 50
    for number in Person.objects.values_list("id_number", flat=True):
        codes.parse_resident_id(number)
    for code in [
        *Organisation.objects.values_list("uscc", flat=True),
        *Department.objects.values_list("uscc", flat=True),
    ]:
        codes.parse_uscc(code)
    roles = set(StaffRole.objects.values_list("role", flat=True))
    assert roles == set(StaffRoleName.values)
    departments_with_staff = StaffRole.objects.values("department").distinct().count()
    assert departments_with_staff >= 5
    assert logins.citizens and logins.staff
    assert User.objects.get(username=logins.citizens[0][1]).account_type == AccountType.PUBLIC


def test_demo_city_is_deterministic():
    def snapshot():
        with transaction.atomic():
            build_demo_city(seed=7)
            rows = sorted(Person.objects.values_list("id_number", "name", "phone"))
            transaction.set_rollback(True)
        return rows

    first = snapshot()
    assert not Person.objects.exists()
    assert snapshot() == first


def test_demo_load_command_is_idempotent(capsys):
    call_command("demo_load")
    call_command("demo_load")
    out = capsys.readouterr().out
    assert "已存在" in out and "platform.admin" in out
    from tongban.cases.constants import CaseStatus
    from tongban.cases.models import Case, CaseEvent

    assert set(Case.objects.values_list("status", flat=True)) == set(CaseStatus.values)
    assert Case.objects.filter(life_event__code="newborn", parent__isnull=True).exists()
    assert Department.objects.filter(code="ljs-gaj").count() == 1
    # Licences: at least ten real-world types, every demo licence verifies with its real state, and closed
    # demo cases whose item produces a licence got it.
    from tongban.licences import services as licence_services
    from tongban.licences.models import Licence, LicenceType

    assert LicenceType.objects.count() >= 10
    verdicts = {licence_services.licence_verify(lic.document).verdict for lic in Licence.objects.all()}
    assert {"valid", "suspended", "expired", "superseded"} <= verdicts
    assert Licence.objects.filter(case__isnull=False).exists()
    # Each type names its issuers, and every demo licence (by hand or by a case) is from one of them.
    assert all(t.issuers.filter(pk=t.issuer_id).exists() for t in LicenceType.objects.all())
    assert all(lic.issuer_id in lic.licence_type.issuer_ids() for lic in Licence.objects.all())
    assert not CaseEvent.objects.filter(message__contains="无权签发").exists()
    # Registries: the seeded defects are found, every population rule has something to show.
    from tongban.registries.models import QualityRun

    run = QualityRun.objects.filter(registry__code="population").first()
    assert run.records > 3000 and 90 < run.score < 100
    assert all(result["failed"] > 0 for code, result in run.results.items() if code != "birth-range"), [
        c for c, r in run.results.items() if not r["failed"]
    ]
    # Data sharing: the catalogue, every request state, gateway reads in the log under a valid checkpoint.
    from tongban.exchange import auditlog
    from tongban.exchange.models import DataAccess, Resource, ShareRequest

    assert Resource.objects.count() == 4
    assert set(ShareRequest.objects.values_list("status", flat=True)) == {"approved", "refused", "pending"}
    assert DataAccess.objects.exists() and auditlog.log_check().ok
    assert auditlog.latest_checkpoint().tree_size == auditlog.tree_size()
    # Bulk: the district's push went up once; the city's copy has it, the district's only its own area.
    from tongban.exchange.models import Subscription
    from tongban.registries.models import LoadJob

    assert LoadJob.objects.get(batch_ref__endswith=":JC-HJ-20261120-001").accepted == 3
    city, district = Subscription.objects.order_by("pk")
    assert district.down_to == "339902" and city.down_to == ""
    assert city.acknowledged_seq == city.delivered_seq >= city.snapshot_seq > 0
    assert district.acknowledged_seq > 0
