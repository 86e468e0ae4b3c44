"""GovStack Registration BB applications, documents, tasks and statistics: OAuth 2 client credentials,
the Information-Mediator-Client header, department scoping, and the spec's own response schemas."""

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from jsonschema import Draft7Validator

from tongban.cases.constants import CaseStatus
from tongban.cases.demo import DEMO_PDF
from tongban.cases.models import Case
from tongban.core.constants import AuditEventType
from tongban.core.models import AuditEvent
from tongban.identity.models import SystemClient
from tongban.identity.services import system_client_create
from tongban.identity.tests.factories import ROLE

pytestmark = pytest.mark.django_db
SPECS = Path(__file__).resolve().parents[4] / "specs/govstack"
MEDIATOR = {"HTTP_INFORMATION_MEDIATOR_CLIENT": "eGovStack/GOV/90000009/market-window"}


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


def token(department, *scopes):
    client, secret = system_client_create(
        acting_user=None, department=department, name="窗口系统", scopes=list(scopes)
    )
    response = Client().post(
        "/o/token/",
        {
            "grant_type": "client_credentials",
            "client_id": client.application.client_id,
            "client_secret": secret,
            "scope": " ".join(scopes),
        },
    )
    assert response.status_code == 200, response.content
    return {"HTTP_AUTHORIZATION": f"Bearer {response.json()['access_token']}", **MEDIATOR}


@pytest.fixture
def market_client(city):
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
        == SystemClient.objects.get(department=city["market"]).application.client_id
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
