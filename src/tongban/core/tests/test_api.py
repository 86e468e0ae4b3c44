import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("kind", "value", "valid", "detail"),
    [
        ("resident_id", "11010519491231002x", True, {"birth_date": "1949-12-31", "sex": "F"}),
        ("resident_id", "110105194912310021", False, None),
        ("uscc", "91350100M000100Y43", True, {"org_code": "M000100Y4"}),
        ("uscc", "91350100M000100Y44", False, None),
        ("area_code", "339902001", True, {"level": "township"}),
    ],
)
def test_validate_code(kind, value, valid, detail):
    response = Client().post(
        "/api/core/codes/validate",
        json.dumps({"kind": kind, "value": value}),
        content_type="application/json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is valid
    if valid:
        assert detail.items() <= body["details"].items()
    else:
        assert body["error_code"] == "checksum" and "校验码" in body["message"]


def test_validate_code_answers_in_english_when_asked():
    response = Client().post(
        "/api/core/codes/validate",
        json.dumps({"kind": "uscc", "value": "123"}),
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.json()["message"] == "A unified social credit code has 18 characters."


def test_unknown_kind_is_a_validation_error():
    response = Client().post(
        "/api/core/codes/validate",
        json.dumps({"kind": "passport", "value": "x"}),
        content_type="application/json",
    )
    assert response.status_code == 422


def test_openapi_document_lists_the_endpoints():
    doc = Client().get("/api/openapi.json").json()
    assert {
        "/api/core/codes/validate",
        "/api/identity/departments",
        "/api/identity/areas",
        "/api/identity/persons/verify",
    } <= set(doc["paths"])
    verify = doc["paths"]["/api/identity/persons/verify"]["post"]
    assert verify["security"]


def test_departments_directory(django_assert_max_num_queries):
    from tongban.identity.tests.factories import DepartmentFactory

    DepartmentFactory.create_batch(5)
    with django_assert_max_num_queries(3):
        body = Client().get("/api/identity/departments").json()
    assert len(body) == 5 and all(len(d["uscc"]) == 18 for d in body)
