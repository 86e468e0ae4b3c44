"""Catalogue JSON API and the GovStack Registration BB service endpoints, checked against the spec."""

import json
from pathlib import Path

import pytest
from django.test import Client
from jsonschema import Draft7Validator

from tongban.catalog.models import ServiceItem

pytestmark = pytest.mark.django_db
SPEC_PATH = (
    Path(__file__).resolve().parents[4] / "specs/govstack/registration-GovStack_Registration_BB_API.json"
)


@pytest.fixture(scope="module")
def spec():
    if not SPEC_PATH.exists():  # the spec lives in ../shared beside the checkout
        pytest.fail(f"GovStack spec not found at {SPEC_PATH}")
    return json.loads(SPEC_PATH.read_text())


def component(spec, name):
    """A component schema with its $refs resolved, usable by jsonschema."""

    def resolve(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]])
            return {k: resolve(v) for k, v in node.items() if k != "example"}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(spec["components"]["schemas"][name])


def test_openapi_document_has_the_spec_paths(spec):
    doc = Client().get("/api/openapi.json").json()
    for path in ["/services", "/services/{serviceId}", "/services/{serviceId}/eForms", "/eForms/{eFormId}"]:
        assert path in spec["paths"]
        assert f"/api/registration{path}" in doc["paths"]
    assert "name" in [p["name"] for p in doc["paths"]["/api/registration/services"]["get"]["parameters"]]


def test_govstack_services_conform(demo_catalogue, spec):
    client = Client(HTTP_INFORMATION_MEDIATOR_CLIENT="eGovStack/GOV/90000009/tongban")
    services = client.get("/api/registration/services").json()
    assert len(services) == 66
    validator = Draft7Validator(component(spec, "service"))
    for service in services[:10]:
        assert not list(validator.iter_errors(service)), service
    named = client.get("/api/registration/services", {"name": "结婚"}).json()
    assert named and all("结婚" in s["name"] for s in named)
    one = client.get(f"/api/registration/services/{services[0]['id']}").json()
    assert one == services[0]
    assert client.get("/api/registration/services/not-a-uuid").status_code == 404
    assert client.get("/api/registration/services/f7d33db0-2809-484e-a780-76b7ccd4ecbf").status_code == 404


def test_govstack_eforms_conform(demo_catalogue, spec):
    item = ServiceItem.objects.get(published_version__name="出生医学证明签发")
    forms = Client().get(f"/api/registration/services/{item.uuid}/eForms").json()
    list_validator = Draft7Validator(component(spec, "EFormListItem"))
    assert len(forms) == 1 and forms[0]["latest"] is True
    assert not list(list_validator.iter_errors(forms[0]))
    form = Client().get(f"/api/registration/eForms/{forms[0]['eFormId']}").json()
    assert not list(Draft7Validator(component(spec, "EForm")).iter_errors(form))
    assert form["schema"]["properties"]["baby_name"]["title"] == "新生儿姓名"
    assert Client().get("/api/registration/eForms/00000000-0000-0000-0000-000000000000").status_code == 404


def test_catalog_items_search_and_detail(demo_catalogue, django_assert_max_num_queries):
    found = Client().get("/api/catalog/items", {"q": "开饭店"}).json()
    assert any(i["name"] == "食品经营许可" for i in found)
    with django_assert_max_num_queries(4):
        page = Client().get("/api/catalog/items", {"department": "ljs-wjw", "limit": 3}).json()
    assert len(page) == 3 and {i["department"] for i in page} == {"ljs-wjw"}
    detail = Client().get(f"/api/catalog/items/{found[0]['implementation_code']}").json()
    assert detail["form_schema"]["type"] == "object" and detail["workflow"]["steps"]
    assert Client().get("/api/catalog/items/nope").status_code == 404
    assert Client().get("/api/catalog/items", {"limit": 5000}).status_code == 422


def test_life_event_api_includes_items_by_answers(demo_catalogue):
    base = Client().get("/api/catalog/life-events/newborn", {"wants_medical_insurance": "false"}).json()
    full = (
        Client()
        .get(
            "/api/catalog/life-events/newborn",
            {"wants_medical_insurance": "true", "wants_social_card": "true"},
        )
        .json()
    )
    assert len(base["items"]) == 2 and len(full["items"]) == 4
    assert "baby_name" in full["merged_form"]["properties"]
    assert len(full["field_sources"]["baby_name"]) == 2
