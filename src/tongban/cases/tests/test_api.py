"""GovStack Registration BB applications, documents, tasks and statistics: OAuth 2 client credentials,
the Information-Mediator-Client header, department scoping, and the spec's own response schemas."""

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from jsonschema import Draft7Validator

from tongban.cases import services
from tongban.cases.constants import CaseStatus
from tongban.cases.demo import DEMO_PDF
from tongban.cases.models import Case
from tongban.core.constants import AuditEventType
from tongban.core.models import AuditEvent
from tongban.identity.models import SystemClient
from tongban.identity.tests.factories import ROLE
from tongban.testing import MEDIATOR, token

from .conftest import consent

pytestmark = pytest.mark.django_db
SPECS = Path(__file__).resolve().parents[4] / "specs/govstack"


def schema(name, file="registration-GovStack_Registration_BB_API.json"):
    spec = json.loads((SPECS / file).read_text())

    def resolve(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]])
            return {k: resolve(v) for k, v in node.items() if k not in ("example", "xml")}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return Draft7Validator(resolve(spec["components"]["schemas"][name]))


def conforms(validator, document):
    errors = [e.message for e in validator.iter_errors(document)]
    assert not errors, errors


@pytest.fixture
def market_client(city):
    """The market regulator's window system, which the citizen authorised to file for them."""
    consent(city["citizen"], city["market"])
    return token(city["market"], "registration.apply", "registration.tasks", "registration.read")


def submit(city, headers, key="k1"):
    upload = Client().post(
        "/api/registration/documents?additionalMetadata=layout",
        {"file": SimpleUploadedFile("plan.pdf", DEMO_PDF)},
        **headers,
    )
    assert upload.status_code == 200, upload.content
    conforms(schema("uploadResponse"), upload.json())
    body = {
        "applicantId": str(city["citizen"].uuid),
        "formData": {"data": {"shop_name": "临江味道", "seats": 30}},
        "documentUrls": [upload.json()["url"]],
    }
    return Client().post(
        f"/api/registration/services/{city['food'].uuid}/applications",
        json.dumps(body),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
        **headers,
    )


def test_submit_on_behalf_of_an_applicant(city, market_client):
    response = submit(city, market_client)
    assert response.status_code == 200, response.content
    conforms(schema("applicationFileResponse"), response.json())
    assert response.json()["status"]["code"] == "PENDING"
    case = Case.objects.get(uuid=response.json()["fileId"])
    assert case.applicant == city["citizen"] and case.documents.get().material_code == "layout"
    again = submit(city, market_client)  # a retry with the same Idempotency-Key
    assert again.status_code == 200 and again.json()["fileId"] == response.json()["fileId"]
    assert Case.objects.count() == 1
    # One audit row per submission, naming the calling system and its mediator header.
    audit = AuditEvent.objects.get(event_type=AuditEventType.CASE_SUBMITTED, target_id=str(case.pk))
    assert audit.extra_data["mediator"] == "eGovStack/GOV/90000009/market-window"
    assert (
        audit.extra_data["client"]
        == SystemClient.objects.get(
            department=city["market"], application__name="窗口系统"
        ).application.client_id
    )


def test_header_scope_and_department_are_enforced(city, market_client):
    without_header = {k: v for k, v in market_client.items() if k != "HTTP_INFORMATION_MEDIATOR_CLIENT"}
    assert Client().get("/api/registration/applications", **without_header).status_code == 400
    assert Client().get("/api/registration/applications", **MEDIATOR).status_code == 401
    reader = token(city["market"], "registration.read")
    assert (
        Client()
        .post("/api/registration/documents", {"file": SimpleUploadedFile("a.pdf", DEMO_PDF)}, **reader)
        .status_code
        == 401
    )
    submit(city, market_client)
    assert len(Client().get("/api/registration/applications", **reader).json()) == 1
    other = token(city["health"], "registration.read", "registration.tasks")
    assert Client().get("/api/registration/applications", **other).json() == []
    file_id = Case.objects.get().uuid
    assert Client().get(f"/api/registration/applications/{file_id}", **other).status_code == 404


def test_tasks_are_completed_in_the_name_of_an_entitled_operator(city, market_client):
    submit(city, market_client)
    tasks = Client().get("/api/registration/tasks", **market_client).json()
    assert [t["name"] for t in tasks] == ["受理"]
    conforms(schema("userTaskResponse"), tasks[0])
    detail = Client().get(f"/api/registration/tasks/{tasks[0]['taskId']}", **market_client).json()
    conforms(schema("dataUserTaskResponse"), detail)
    url = f"/api/registration/tasks/{tasks[0]['taskId']}/complete"
    wrong = {
        "data": {"operatorId": str(city["staff"][("ljs-wjw", ROLE.INTAKE_CLERK)].uuid), "action": "accept"}
    }
    assert (
        Client().post(url, json.dumps(wrong), content_type="application/json", **market_client).status_code
        == 403
    )
    right = {
        "data": {"operatorId": str(city["staff"][("ljs-scjgj", ROLE.INTAKE_CLERK)].uuid), "action": "accept"}
    }
    done = Client().post(url, json.dumps(right), content_type="application/json", **market_client)
    assert done.status_code == 200, done.content
    conforms(schema("completedTaskResponse"), done.json())
    assert Case.objects.get().status == CaseStatus.IN_PROGRESS
    replay = Client().post(url, json.dumps(right), content_type="application/json", **market_client)
    assert replay.status_code == 409


def test_statistics(city, market_client):
    submit(city, market_client)
    assert Client().get("/api/registration/data/statistics").status_code == 400
    stats = Client().get("/api/registration/data/statistics", {"timeframe": "month"}, **MEDIATOR).json()
    conforms(
        schema("inline_response_200", "registration-GovStack_Registration_BB_API_statistics.json"), stats[0]
    )
    assert stats[0]["processed"] == 0 and stats[0]["references"]["timeframeMonth"] is True


def test_unknown_or_withdrawn_service_is_404(city, market_client):
    import uuid as uuid_module

    from tongban.catalog import services as catalog_services
    from tongban.identity.tests.factories import StaffFactory

    body = {
        "applicantId": str(city["citizen"].uuid),
        "formData": {"data": {"shop_name": "临江味道", "seats": 30}},
    }
    for service in (uuid_module.uuid4(), "not-a-uuid"):
        response = Client().post(
            f"/api/registration/services/{service}/applications",
            body,
            content_type="application/json",
            **market_client,
        )
        assert response.status_code == 404
    admin = StaffFactory(roles=[(city["market"], ROLE.PLATFORM_ADMIN)])
    catalog_services.item_withdraw(acting_user=admin, item=city["food"], reason="停止办理")
    response = Client().post(
        f"/api/registration/services/{city['food'].uuid}/applications",
        body,
        content_type="application/json",
        **market_client,
    )
    assert response.status_code == 404 and "停止办理" in response.json()["detail"]
    assert not Case.objects.exists()


# ---- the caller's word is not enough (issue 15, item 9) ------------------------------------------------


def post_application(city, headers, *, applicant_id=None, item="food", data=None, key=None):
    body = {
        "applicantId": applicant_id or str(city["citizen"].uuid),
        "formData": {"data": data or {"shop_name": "临江味道", "seats": 30}},
    }
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return Client().post(
        f"/api/registration/services/{city[item].uuid}/applications",
        json.dumps(body),
        content_type="application/json",
        **extra,
        **headers,
    )


def refusals(action):
    return AuditEvent.objects.filter(event_type=AuditEventType.PERMISSION_DENIED, extra_data__action=action)


NO_CONSENT = "申请人尚未授权本系统代为办理，请申请人登录后授权“代申请人提交办件和材料”。"


def test_filing_for_a_person_needs_their_consent(city):
    # The birth certificate needs no upload: filed without documents.
    window = token(city["health"], "registration.apply")
    response = post_application(city, window, item="birth", data={"baby_name": "王小明"})
    assert response.status_code == 403 and response.json()["detail"] == NO_CONSENT
    assert not Case.objects.exists()
    refused = refusals("case_submit").get()
    assert refused.extra_data["reason"] == "no_consent"
    assert refused.extra_data["applicant"] == str(city["citizen"].uuid)
    assert refused.extra_data["mediator"] == MEDIATOR["HTTP_INFORMATION_MEDIATOR_CLIENT"]

    # Consent given to another department's system, or to a trusted one that skipped the consent page,
    # or without the scope, is no consent for this one.
    consent(city["citizen"], city["market"])
    consent(city["citizen"], city["health"], trusted=True)
    consent(city["citizen"], city["health"], scopes=("openid", "profile"))
    response = post_application(city, window, item="birth", data={"baby_name": "王小明"})
    assert response.status_code == 403 and response.json()["detail"] == NO_CONSENT

    given = consent(city["citizen"], city["health"])
    response = post_application(city, window, item="birth", data={"baby_name": "王小明"})
    assert response.status_code == 200, response.content

    # Revoking the authorisation (the refresh token revokes its access token too) withdraws the consent.
    revoked = Client().post(
        "/o/revoke_token/",
        {
            "token": given["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": given["client_id"],
            "client_secret": given["client_secret"],
        },
    )
    assert revoked.status_code == 200
    response = post_application(city, window, item="birth", data={"baby_name": "王小明"})
    assert response.status_code == 403 and response.json()["detail"] == NO_CONSENT
    assert Case.objects.count() == 1


def test_an_expired_authorisation_is_no_consent(city):
    import datetime as dt

    from django.utils import timezone
    from oauth2_provider.models import AccessToken, RefreshToken

    window = token(city["health"], "registration.apply")
    consent(city["citizen"], city["health"])
    user_token = AccessToken.objects.get(user=city["citizen"])
    AccessToken.objects.filter(pk=user_token.pk).update(expires=timezone.now() - dt.timedelta(minutes=1))
    # Still refreshable: the authorisation lives on.
    assert post_application(city, window, item="birth", data={"baby_name": "甲"}).status_code == 200
    RefreshToken.objects.filter(user=city["citizen"]).update(revoked=timezone.now())
    response = post_application(city, window, item="birth", data={"baby_name": "乙"})
    assert response.status_code == 403 and response.json()["detail"] == NO_CONSENT


def test_a_client_files_only_into_its_own_departments_services(city):
    # The health commission's window system, authorised by the citizen, files into the market regulator's
    # food licence: refused, and the retry with the same key too.
    consent(city["citizen"], city["health"])
    window = token(city["health"], "registration.apply")
    for _attempt in range(2):
        response = post_application(city, window, key="cross")
        assert response.status_code == 403
        assert response.json()["detail"] == "本系统只能向所属部门的事项提交申请。"
    assert not Case.objects.exists()
    assert [r.extra_data["reason"] for r in refusals("case_submit")] == ["other_department"] * 2


def test_an_organisation_files_through_the_consent_of_its_representative_or_agent(city):
    from tongban.identity.tests.factories import OrganisationAgentFactory, UserFactory

    from .conftest import publish

    licence = publish(
        city["market"],
        "010000400000",
        name="广告发布登记",
        applicant_types=["organisation"],
        form_schema={"type": "object", "properties": {"note": {"type": "string", "title": "说明"}}},
    )
    city["ad"] = licence
    org = city["org"]  # the citizen is its legal representative
    window = token(city["market"], "registration.apply", "registration.read")
    stranger = UserFactory()
    consent(stranger, city["market"])  # someone with no delegation from the organisation
    response = post_application(city, window, applicant_id=str(org.uuid), item="ad", data={"note": "x"})
    assert response.status_code == 403
    assert response.json()["detail"] == "该组织的法定代表人或经办人尚未授权本系统代为办理。"

    agent = UserFactory()
    OrganisationAgentFactory(organisation=org, person=agent.person, granted_by=city["citizen"])
    consent(agent, city["market"])
    response = post_application(city, window, applicant_id=str(org.uuid), item="ad", data={"note": "x"})
    assert response.status_code == 200, response.content
    assert response.json()["applicantId"] == str(org.uuid)
    case = Case.objects.get()
    assert case.organisation == org and case.applicant == agent
    listed = Client().get("/api/registration/applications", {"applicantId": str(org.uuid)}, **window)
    assert [a["fileId"] for a in listed.json()] == [str(case.uuid)]


def test_a_correction_is_sent_only_with_the_applicants_consent(city, market_client):
    from oauth2_provider.models import AccessToken

    file_id = submit(city, market_client).json()["fileId"]
    case = Case.objects.get(uuid=file_id)
    task = case.tasks.get(step_key="accept")
    services.task_act(
        actor=city["staff"][("ljs-scjgj", ROLE.INTAKE_CLERK)],
        task=task,
        action="correction",
        reason="餐位数有误",
        correction_items=["餐位数"],
    )
    AccessToken.objects.filter(user=city["citizen"]).delete()  # the citizen withdrew the authorisation
    body = {"applicantId": str(city["citizen"].uuid), "formData": {"data": {"seats": 20}}}
    response = Client().put(
        f"/api/registration/applications/{file_id}",
        json.dumps(body),
        content_type="application/json",
        **market_client,
    )
    assert response.status_code == 403 and response.json()["detail"] == NO_CONSENT
    assert Case.objects.get().status == CaseStatus.CORRECTION
    assert refusals("case_correct").get().extra_data["reason"] == "no_consent"


def complete(headers, task_id, operator, action="accept"):
    return Client().post(
        f"/api/registration/tasks/{task_id}/complete",
        json.dumps({"data": {"operatorId": str(operator.uuid), "action": action}}),
        content_type="application/json",
        **headers,
    )


def test_a_task_is_completed_only_in_the_name_of_an_active_entitled_operator_who_holds_it(
    city, market_client
):
    from tongban.identity.tests.factories import StaffFactory

    submit(city, market_client)
    task = Case.objects.get().tasks.get(step_key="accept")
    admin = StaffFactory(roles=[(city["health"], ROLE.PLATFORM_ADMIN)])
    reviewer = city["staff"][("ljs-scjgj", ROLE.REVIEWER)]  # the department, but not the task's role
    leaver = StaffFactory(roles=[(city["market"], ROLE.INTAKE_CLERK)], is_active=False)
    denied = "办理人须是本部门在职且持有“受理人员”角色的工作人员。"
    for operator, reason in (
        (admin, "no_role"),
        (reviewer, "no_role"),
        (leaver, "not_staff"),
        (city["citizen"], "not_staff"),
    ):
        response = complete(market_client, task.uuid, operator)
        assert response.status_code == 403 and response.json()["detail"] == denied, operator
        assert (
            refusals("task_act").filter(extra_data__operator=str(operator.uuid)).get().extra_data["reason"]
            == reason
        )
    assert Case.objects.get().status == CaseStatus.SUBMITTED

    clerk = city["staff"][("ljs-scjgj", ROLE.INTAKE_CLERK)]
    colleague = StaffFactory(roles=[(city["market"], ROLE.INTAKE_CLERK)], display_name="同科室同事")
    services.task_claim(actor=colleague, task=task)
    response = complete(market_client, task.uuid, clerk)
    assert response.status_code == 403 and response.json()["detail"] == "该环节已由 同科室同事 认领。"
    assert refusals("accept").get().extra_data["reason"] == "claimed_by_other"
    assert complete(market_client, task.uuid, colleague).status_code == 200
    assert Case.objects.get().status == CaseStatus.IN_PROGRESS


def test_a_task_shows_identity_numbers_only_to_intake(city, market_client):
    submit(city, market_client)
    case = Case.objects.get()
    number = city["citizen"].person.id_number
    intake = case.tasks.get(step_key="accept")
    detail = Client().get(f"/api/registration/tasks/{intake.uuid}", **market_client).json()
    assert number in json.dumps(detail)
    services.task_act(actor=city["staff"][("ljs-scjgj", ROLE.INTAKE_CLERK)], task=intake, action="accept")
    fire = token(city["fire"], "registration.tasks")
    review = case.tasks.get(department=city["fire"])
    detail = Client().get(f"/api/registration/tasks/{review.uuid}", **fire).json()
    assert number not in json.dumps(detail, ensure_ascii=False)
    assert city["citizen"].person.masked_id_number in json.dumps(detail, ensure_ascii=False)
