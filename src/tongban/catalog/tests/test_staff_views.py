"""Catalogue management through the pages: create, validate, submit, publish, import, export, bundles."""

import io
import json

import pytest
from django.test import Client

from tongban.catalog.constants import VersionStatus
from tongban.catalog.demo_fields import PERSON, schema, simple
from tongban.catalog.models import LifeEvent, ServiceItem, ServiceItemVersion
from tongban.identity.tests.factories import ROLE, DepartmentFactory, StaffFactory
from tongban.testing import staff_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def dept():
    return DepartmentFactory(code="ljs-demo")


def item_post(**overrides):
    data = {
        "department": "ljs-demo",
        "basic_code": "010009900000",
        "name": "网页新建的事项",
        "item_type": "01",
        "applicant_types": ["person"],
        "legal_basis": "《某条例》第三条",
        "statutory_days": "20",
        "committed_days": "5",
        "fee_free": "on",
        "channels": ["online", "window"],
        "online_depth": "full_online",
        "max_visits": "0",
        "form_schema": json.dumps(schema(list(PERSON))),
        "workflow": json.dumps(simple()),
        "materials": json.dumps([{"code": "id", "name": "居民身份证", "formats": ["pdf"]}]),
    }
    data.update(overrides)
    return data


def test_editor_creates_submits_and_platform_publishes(dept):
    editor = StaffFactory(totp=True, roles=[(dept, ROLE.DEPARTMENT_ADMIN)])
    publisher = StaffFactory(totp=True, roles=[(dept, ROLE.PLATFORM_ADMIN)])
    client = staff_client(editor)
    bad = client.post(
        "/staff/catalogue/new/",
        item_post(
            workflow=json.dumps(
                {
                    "steps": [
                        {"key": "a", "kind": "accept", "role": "intake_clerk", "department": "ljs-missing"}
                    ]
                }
            )
        ),
    )
    assert bad.status_code == 200
    assert "ljs-missing" in bad.content.decode() and not ServiceItem.objects.exists()
    ok = client.post("/staff/catalogue/new/", item_post())
    item = ServiceItem.objects.get()
    assert ok["Location"] == f"/staff/catalogue/items/{item.pk}/"
    version = item.versions.get()
    assert client.post(f"/staff/catalogue/versions/{version.pk}/submit/").status_code == 302
    assert client.post(f"/staff/catalogue/versions/{version.pk}/publish/").status_code == 302
    assert (
        ServiceItemVersion.objects.get(pk=version.pk).status == VersionStatus.REVIEW
    )  # editor may not publish
    platform = staff_client(publisher)  # one session: a one-time code is never accepted twice
    assert "网页新建的事项" in platform.get("/staff/catalogue/").content.decode()
    platform.post(f"/staff/catalogue/versions/{version.pk}/publish/")
    assert ServiceItemVersion.objects.get(pk=version.pk).status == VersionStatus.PUBLISHED
    assert Client().get(f"/services/items/{item.implementation_code}/").status_code == 200


def test_clerks_cannot_manage_the_catalogue(dept):
    clerk = StaffFactory(totp=True, roles=[(dept, ROLE.INTAKE_CLERK)])
    client = staff_client(clerk)
    assert client.get("/staff/catalogue/").status_code == 403
    assert client.post("/staff/catalogue/new/", item_post()).status_code == 403
    assert not ServiceItem.objects.exists()


def test_import_page_reports_line_errors_and_saves_nothing(dept):
    publisher = StaffFactory(totp=True, roles=[(dept, ROLE.PLATFORM_ADMIN)])
    client = staff_client(publisher)
    data = {
        "format": "tongban-catalogue/1",
        "themes": [],
        "life_events": [],
        "items": [
            {
                "department": "ljs-demo",
                "basic_code": "010001200000",
                "status": "published",
                "version": {**json.loads(json.dumps(item_post())), "name": "好的事项"},
                "materials": [],
                "themes": [],
            },
            {
                "department": "nowhere",
                "basic_code": "010001300000",
                "status": "published",
                "version": {"name": "坏的事项"},
                "materials": [],
                "themes": [],
            },
        ],
    }
    for row in data["items"]:
        version = row["version"]
        for key in ("department", "basic_code", "materials"):
            version.pop(key, None)
        for key in ("form_schema", "workflow"):
            if key in version:
                version[key] = json.loads(version[key])
        version.update(
            {
                "applicant_types": ["person"],
                "channels": ["online"],
                "statutory_days": 20,
                "committed_days": 5,
                "max_visits": 0,
                "fee_free": True,
            }
        )
    upload = io.BytesIO(json.dumps(data, ensure_ascii=False).encode())
    upload.name = "catalogue.json"
    body = client.post("/staff/catalogue/import/", {"file": upload}).content.decode()
    assert "items[1]" in body and "nowhere" in body and "未导入任何内容" in body
    assert not ServiceItem.objects.exists()
    data["items"].pop()
    upload = io.BytesIO(json.dumps(data, ensure_ascii=False).encode())
    upload.name = "catalogue.json"
    body = client.post("/staff/catalogue/import/", {"file": upload}).content.decode()
    assert "新增 1 个事项" in body
    assert ServiceItem.objects.get().published_version.name == "好的事项"


def test_export_downloads(dept):
    editor = StaffFactory(totp=True, roles=[(dept, ROLE.DEPARTMENT_ADMIN)])
    response = staff_client(editor).get("/staff/catalogue/export.xlsx")
    assert response.status_code == 200 and response.content[:2] == b"PK"
    assert "attachment" in response["Content-Disposition"]


def test_bundle_edit_page_refuses_unknown_items_and_publishes(demo_catalogue):
    publisher = StaffFactory(totp=True, roles=[(DepartmentFactory(), ROLE.PLATFORM_ADMIN)])
    client = staff_client(publisher)
    entries = [{"item": "ljs-wjw/070000100000"}, {"item": "ljs-gaj/070000100000"}]
    bad = client.post(
        "/staff/catalogue/events/new/",
        {
            "code": "test-bundle",
            "name": "测试一件事",
            "audience": "person",
            "questions": "{}",
            "entries": json.dumps([*entries, {"item": "ljs-wjw/019999900000"}]),
            "publish": "1",
        },
    )
    assert "事项不存在" in bad.content.decode() and not LifeEvent.objects.filter(code="test-bundle").exists()
    ok = client.post(
        "/staff/catalogue/events/new/",
        {
            "code": "test-bundle",
            "name": "测试一件事",
            "audience": "person",
            "questions": "{}",
            "entries": json.dumps(entries),
            "publish": "1",
        },
    )
    assert ok.status_code == 302
    assert LifeEvent.objects.get(code="test-bundle").status == VersionStatus.PUBLISHED
