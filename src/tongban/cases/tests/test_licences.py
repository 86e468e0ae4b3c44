"""Cases and licences: an approved case issues its licence; a held licence stands in for a material."""

import pytest
from django.test import Client

from tongban.cases import services
from tongban.cases.constants import BATCH_ACTIONS, EventKind
from tongban.cases.models import CaseEvent, CaseTask
from tongban.catalog.demo_fields import FIELDS, PERSON, simple
from tongban.licences import services as licence_services
from tongban.licences.constants import HolderCodeType, LicenceStatus
from tongban.licences.models import Licence, LicenceType, LicenceUse
from tongban.testing import login_staff

from .conftest import FOOD_MATERIALS, food_answers, layout, publish

pytestmark = pytest.mark.django_db
BIRTH_CERT = "110000000000000000003"
BUSINESS = "110000000000000000001"


def drive(city, case):
    """Every open step done by its staff with the step's positive action, until the case closes."""
    for _ in range(10):
        tasks = list(CaseTask.objects.filter(case=case, status="open").select_related("department"))
        if not tasks:
            return
        for task in tasks:
            actor = city["staff"][(task.department.code, task.role)]
            services.task_act(actor=actor, task=task, action=BATCH_ACTIONS[task.kind])


def test_an_approved_case_issues_its_licence_to_the_wallet(city, django_capture_on_commit_callbacks):
    LicenceType.objects.create(
        code=BIRTH_CERT,
        name="出生医学证明",
        issuer=city["health"],
        holder_code_type=HolderCodeType.ID_NUMBER,
        face_schema={
            "type": "object",
            "properties": {"baby_name": {"type": "string", "title": "新生儿姓名"}},
        },
    )
    item = publish(
        city["health"],
        "070000100009",
        name="出生医学证明签发（电子证照）",
        workflow=simple(),
        result_licence_type=BIRTH_CERT,
        form_schema={
            "type": "object",
            "required": [*PERSON, "baby_name"],
            "properties": {**{k: FIELDS[k] for k in PERSON}, "baby_name": FIELDS["baby_name"]},
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        case = services.case_submit(applicant=city["citizen"], item=item, answers={"baby_name": "小明"})
        drive(city, case)
    licence = Licence.objects.get(case=case)
    assert licence.holder_code == city["citizen"].person.id_number and licence.face == {"baby_name": "小明"}
    assert licence.issuer == city["health"] and licence_services.licence_verify(licence.document).valid
    assert CaseEvent.objects.filter(case=case, kind=EventKind.LICENCE, public=True).exists()
    client = Client()
    client.force_login(city["citizen"])
    wallet = client.get("/my/licences/").content.decode()
    assert "出生医学证明" in wallet
    detail = client.get(f"/my/licences/{licence.pk}/").content.decode()
    assert "小明" in detail and "<svg" in detail  # the 亮证 QR code
    timeline = client.get(f"/my/cases/{case.number}/").content.decode()
    assert "已签发电子证照《出生医学证明》" in timeline


def test_a_held_licence_stands_in_for_the_material(city):
    org = city["org"]
    LicenceType.objects.create(
        code=BUSINESS,
        name="营业执照",
        issuer=city["market"],
        holder_code_type=HolderCodeType.USCC,
        face_schema={"type": "object", "properties": {}},
    )
    business = licence_services.licence_issue(
        acting_user=None,
        licence_type=LicenceType.objects.get(code=BUSINESS),
        holder_name=org.name,
        holder_code=org.uscc,
        face={},
    )
    item = publish(
        city["market"],
        "010000300009",
        name="食品经营许可（企业）",
        applicant_types=["organisation"],
        form_schema={
            "type": "object",
            "required": ["shop_name", "seats"],
            "properties": {"shop_name": FIELDS["shop_name"], "seats": FIELDS["seats"]},
        },
        workflow=simple(),
        materials=FOOD_MATERIALS,
    )
    applicant = Client()
    applicant.force_login(city["citizen"])
    session = applicant.session
    session["tongban_acting_org"] = str(org.uuid)
    session.save()
    form = applicant.get(f"/services/items/{item.implementation_code}/apply/").content.decode()
    assert "免提交：将使用您持有的有效电子证照" in form
    case = services.case_submit(
        applicant=city["citizen"], organisation=org, item=item, answers=food_answers(), uploads=layout()
    )
    use = LicenceUse.objects.get(case=case)
    assert use.licence == business and use.kind == LicenceUse.CASE_MATERIAL and use.purpose == case.title
    clerk = city["staff"][("ljs-scjgj", "intake_clerk")]
    client = Client()
    login_staff(client, clerk)
    page = client.get(f"/staff/cases/{case.number}/").content.decode()
    assert "以电子证照代替的材料" in page and business.identifier in page and "核验有效" in page
    # A revoked licence is not used again.
    licence_services.licence_set_status(
        acting_user=None, licence=business, status=LicenceStatus.REVOKED, reason="吊销营业执照"
    )
    again = services.case_submit(
        applicant=city["citizen"], organisation=org, item=item, answers=food_answers(), uploads=layout()
    )
    assert not LicenceUse.objects.filter(case=again).exists()


def test_held_licences_are_current_valid_and_the_applicants_own_first(city):
    import datetime as dt

    from django.utils import timezone

    org = city["org"]
    kind = LicenceType.objects.create(
        code=BUSINESS,
        name="营业执照",
        issuer=city["market"],
        holder_code_type=HolderCodeType.USCC,
        face_schema={"type": "object", "properties": {}},
    )

    def issue():
        return licence_services.licence_issue(
            acting_user=None, licence_type=kind, holder_name=org.name, holder_code=org.uscc, face={}
        )

    older, newer = issue(), issue()
    today = timezone.localdate()
    assert licence_services.held_licences([org.uscc], {BUSINESS}) == {BUSINESS: newer.pk}
    assert licence_services.held_licences(["x", org.uscc], {BUSINESS, "other"}) == {BUSINESS: newer.pk}
    assert licence_services.held_licences([org.uscc], {"other"}) == {}
    Licence.objects.filter(pk=newer.pk).update(valid_to=today - dt.timedelta(days=1))  # expired yesterday
    assert licence_services.held_licences([org.uscc], {BUSINESS}) == {BUSINESS: older.pk}
    Licence.objects.filter(pk=older.pk).update(valid_to=today)  # valid to the end of today
    assert licence_services.held_licences([org.uscc], {BUSINESS}) == {BUSINESS: older.pk}
    Licence.objects.filter(pk=older.pk).update(status=LicenceStatus.SUSPENDED)
    assert licence_services.held_licences([org.uscc], {BUSINESS}) == {}


def test_a_case_of_a_department_without_the_authority_does_not_issue_the_licence(
    city, django_capture_on_commit_callbacks
):
    """Issue 15 #4 through a case: 卫健委 publishes an item whose result is a 结婚证 (民政局's type); the
    approved case closes, but no licence is issued, the refusal is audited and the staff are told."""
    from tongban.core.models import AuditEvent
    from tongban.identity.tests.factories import DepartmentFactory

    civil = DepartmentFactory(code="ljs-mzj", name="临江市民政局", short_name="市民政局")
    marriage = LicenceType.objects.create(
        code="110000000000000000008",
        name="结婚证",
        issuer=civil,
        holder_code_type=HolderCodeType.ID_NUMBER,
        face_schema={"type": "object", "properties": {"baby_name": {"type": "string"}}},
    )
    item = publish(
        city["health"],
        "070000100019",
        name="结婚证（冒用）",
        workflow=simple(),
        result_licence_type=marriage.code,
        form_schema={
            "type": "object",
            "required": [*PERSON, "baby_name"],
            "properties": {**{k: FIELDS[k] for k in PERSON}, "baby_name": FIELDS["baby_name"]},
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        case = services.case_submit(applicant=city["citizen"], item=item, answers={"baby_name": "小明"})
        drive(city, case)
    case.refresh_from_db()
    assert case.status == "closed" and case.outcome == "approved"  # the decision stands
    assert not Licence.objects.exists()
    note = CaseEvent.objects.get(case=case, kind=EventKind.COMMENT, public=False)
    assert (
        note.message
        == "电子证照未能自动签发：临江市卫生健康委员会无权签发“结婚证”：该类证照由临江市民政局颁发。"
    )
    refusal = AuditEvent.objects.get(event_type="permission_denied", extra_data__action="issue_for_case")
    assert refusal.outcome == "failure" and refusal.department == city["health"]
    assert refusal.extra_data["case"] == case.number and refusal.extra_data["licence_type"] == marriage.code
