"""The migration that names each type's issuers keeps what was in use issuing and verifying."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tongban.identity.tests.factories import DepartmentFactory

BEFORE = [("licences", "0001_initial")]
AFTER = [("licences", "0002_licence_type_issuers")]


@pytest.mark.django_db(transaction=True)
def test_issuers_are_filled_from_default_issuers_licences_and_published_items():
    default, issued, item_dept, other = (DepartmentFactory() for _ in range(4))
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    LicenceType = apps.get_model("licences", "LicenceType")
    first = LicenceType.objects.create(
        code="110000000000000000001", name="甲证", issuer_id=default.pk, holder_code_type="uscc"
    )
    second = LicenceType.objects.create(code="110000000000000000002", name="乙证", holder_code_type="uscc")
    LicenceType.objects.create(code="110000000000000000003", name="丙证", holder_code_type="uscc")
    key = apps.get_model("licences", "SealKey").objects.create(
        key_id="k1",
        department_id=issued.pk,
        algorithm="SM2-SM3",
        public_key="",
        private_key=b"",
        key_store="x",
    )
    apps.get_model("licences", "Licence").objects.create(
        identifier="x",
        licence_type=first,
        number="1",
        name="甲证",
        issuer_id=issued.pk,
        issuer_code=issued.uscc,
        jurisdiction="330100",
        holder_name="某公司",
        holder_code="x",
        holder_code_type="uscc",
        issued_on="2026-01-01",
        valid_from="2026-01-01",
        seal_key=key,
    )
    Item = apps.get_model("catalog", "ServiceItem")
    Version = apps.get_model("catalog", "ServiceItemVersion")
    for n, (status, department) in enumerate([("published", item_dept), ("draft", other)]):
        item = Item.objects.create(
            department_id=department.pk, basic_code=f"0100003000{n:02d}", implementation_code=f"impl-{n}"
        )
        Version.objects.create(
            item=item,
            number=1,
            status=status,
            name="事项",
            statutory_days=20,
            committed_days=5,
            result_licence_type=second.code,
        )
    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    from tongban.licences.models import LicenceType as Current

    found = {t.code: set(t.issuers.values_list("pk", flat=True)) for t in Current.objects.all()}
    assert found == {
        first.code: {default.pk, issued.pk},
        second.code: {item_dept.pk},  # the draft's department is not made an issuer
        "110000000000000000003": set(),
    }
