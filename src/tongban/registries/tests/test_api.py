"""GovStack Digital Registries BB API: every data endpoint (both spellings where they differ), the
database endpoints, the mediator header, scopes and ownership, restricted fields, the personal-data log."""

import datetime as dt
import json

import pytest
from django.test import Client

from tongban.core.cache import clear_all
from tongban.exchange import gateway, services
from tongban.exchange.models import ShareType
from tongban.identity.tests.factories import DepartmentFactory
from tongban.registries.models import PersonRecord, RecordChange, Registry, RegistryRead
from tongban.testing import resident_number as number
from tongban.testing import token

from .conftest import BASE, post

pytestmark = pytest.mark.django_db


def test_header_scope_registry_and_version_are_checked(world):
    without = {k: v for k, v in world["reader"].items() if k != "HTTP_INFORMATION_MEDIATOR_CLIENT"}
    assert Client().get(f"{BASE}/data/population/1.0", **without).status_code == 400
    assert Client().get(f"{BASE}/data/population/1.0").status_code == 401
    assert Client().get(f"{BASE}/data/nope/1.0", **world["reader"]).status_code == 404
    assert Client().get(f"{BASE}/data/population/9.9", **world["reader"]).status_code == 404
    assert post("/data/population/1.0/create", {"write": {"content": {}}}, world["reader"]).status_code == 401
    bad = post("/data/population/1.0/read", {"query": {"content": {"shoe_size": 42}}}, world["reader"])
    assert bad.status_code == 400 and "shoe_size" in bad.json()["detail"]
    assert post("/data/population/1.0/read", {"nonsense": 1}, world["reader"]).status_code == 422
    # A value its column cannot hold is the caller's 400, not a 500 (the owner may filter by any field).
    bad_date = post(
        "/data/population/1.0/exists", {"query": {"content": {"birth_date": "1980"}}}, world["owner"]
    )
    assert bad_date.status_code == 400 and bad_date.json()["detail"] == "“birth_date”的值无效。"


def test_list_read_exists_read_value_and_restricted_fields(world):
    listed = Client().get(
        f"{BASE}/data/population/1.0", {"pageSize": 2, "ordering": "descending"}, **world["reader"]
    )
    body = listed.json()
    assert body["count"] == 5 and len(body["results"]) == 2 and body["next"] and body["previous"] is None
    assert "phone" not in body["results"][0]  # not published in the catalogue: the owner only
    queried = Client().get(f"{BASE}/data/population/1.0", {"query.name": "居民3"}, **world["reader"]).json()
    assert [r["id_number"] for r in queried["results"]] == [number(3)]
    read = post(
        "/data/population/1.0/read", {"query": {"content": {"id_number": number(1)}}}, world["reader"]
    )
    assert read.json()["content"]["name"] == "居民1" and "phone" not in read.json()["content"]
    owner_read = post(
        "/data/population/1.0/read", {"query": {"content": {"id_number": number(1)}}}, world["owner"]
    )
    assert owner_read.json()["content"]["phone"] == "13900000001"
    from tongban.exchange.models import LogEntry

    logged = json.loads(LogEntry.objects.filter(kind="registry_read").last().leaf)
    assert (logged["operation"], logged["records"], logged["consumer"]) == ("read", 1, "ljs-gaj")
    assert number(1) not in LogEntry.objects.filter(kind="registry_read").last().leaf  # keys hashed
    missing = post(
        "/data/population/1.0/read", {"query": {"content": {"id_number": number(99)}}}, world["reader"]
    )
    assert missing.status_code == 404 and missing.json()["detail"] == "no record found"
    yes = post(
        "/data/population/1.0/exists", {"query": {"content": {"name": "居民2"}}}, world["reader"]
    ).json()
    no = post(
        "/data/population/1.0/exists", {"query": {"content": {"name": "无此人"}}}, world["reader"]
    ).json()
    assert yes["answer"]["status"] is True and no["answer"]["status"] is False
    checked = RegistryRead.objects.filter(operation="exists")
    assert [(r.subject, r.fields) for r in checked] == [(number(2), ["name"])]  # the match, in their view
    for spelling in ("readValue", "read-value"):
        value = Client().get(
            f"{BASE}/data/population/1.0/{number(2)}/{spelling}/name.json", **world["reader"]
        )
        assert value.json() == {"value": "居民2"}
    text = Client().get(f"{BASE}/data/population/1.0/{number(2)}/readValue/sex.txt", **world["reader"])
    assert text.content.decode() == "F"
    hidden = Client().get(f"{BASE}/data/population/1.0/{number(2)}/readValue/phone.json", **world["reader"])
    assert hidden.status_code == 404
    # A name released only masked cannot be searched by its text either.
    from tongban.exchange.models import ResourceField

    ResourceField.objects.filter(name="name").update(sensitivity=3)
    gateway.forget_grants()
    searched = Client().get(f"{BASE}/data/population/1.0", {"search": "居民"}, **world["reader"])
    assert searched.status_code == 403 and searched.json()["detail"] == "本部门不能按这些字段检索：name"


def test_writes_belong_to_the_owner_and_keep_history(world):
    new = {"id_number": number(10), "name": "新居民", "sex": "男"}
    assert (
        post(
            "/data/population/1.0/create", {"write": {"content": new}}, world["writer_elsewhere"]
        ).status_code
        == 403
    )
    created = post("/data/population/1.0/create", {"write": {"content": new}}, world["owner"])
    assert created.status_code == 200 and created.json()["content"]["sex"] == "M"
    assert post("/data/population/1.0/create", {"write": {"content": new}}, world["owner"]).status_code == 409
    forged = {**new, "id_number": number(11)[:-1] + ("0" if number(11)[-1] != "0" else "1")}
    refused = post("/data/population/1.0/create", {"write": {"content": forged}}, world["owner"])
    assert refused.status_code == 400 and "校验" in refused.json()["detail"]
    body = {"query": {"content": {"id_number": number(10)}}, "write": {"content": {"name": "改名"}}}
    assert post("/data/population/1.0/update", body, world["owner"], "put").status_code == 200
    assert PersonRecord.objects.get(id_number=number(10)).name == "改名"
    assert RecordChange.objects.filter(key=number(10), changes__name=["新居民", "改名"]).exists()
    many = {"query": {"content": {"area_code": "339902"}}, "write": {"content": {"marital_status": "20"}}}
    assert (
        post("/data/population/1.0/update", many, world["owner"], "put").status_code == 400
    )  # more than one
    for spelling in ("updateEntries", "update-entries"):
        assert post(f"/data/population/1.0/{spelling}", many, world["owner"], "put").status_code == 200
    assert PersonRecord.objects.filter(marital_status="20").count() == 5
    upsert = {"query": {"content": {"id_number": number(12)}}, "write": {"content": {"name": "甲"}}}
    for spelling, expected in (("updateOrCreate", "甲"), ("update-or-create", "乙")):
        upsert["write"]["content"]["name"] = expected
        response = post(f"/data/population/1.0/{spelling}", upsert, world["owner"])
        assert response.status_code == 200 and response.json()["content"]["name"] == expected
    assert PersonRecord.objects.filter(id_number=number(12)).count() == 1
    deleted = Client().delete(f"{BASE}/data/population/1.0/{number(12)}/delete", **world["owner"])
    assert deleted.status_code == 204 and not PersonRecord.objects.filter(id_number=number(12)).exists()
    assert (
        Client().delete(f"{BASE}/data/population/1.0/{number(12)}/delete", **world["owner"]).status_code
        == 404
    )


def test_personal_data_usage_returns_real_reads(world):
    post("/data/population/1.0/read", {"query": {"content": {"id_number": number(4)}}}, world["reader"])
    for spelling in ("myPersonalDataUsage", "my-personal-data-usage"):
        usage = Client().get(
            f"{BASE}/data/{spelling}", {"userId": number(4), "databaseId": "population"}, **world["owner"]
        )
        assert usage.status_code == 200
        assert usage.json()[0]["readerInstitutionName"] == "临江市卫生健康委员会"
    assert RegistryRead.objects.filter(subject=number(4), operation="read").count() == 1
    nobody = Client().get(
        f"{BASE}/data/myPersonalDataUsage",
        {"userId": number(0)[:-1] + "X", "databaseId": "population"},
        **world["owner"],
    )
    assert nobody.status_code == 404


def test_database_endpoints_define_a_registry_without_code(world):
    schema = {
        "title": "养犬登记库",
        "type": "object",
        "properties": {
            "tag": {"type": "string"},
            "owner_name": {"type": "string"},
            "breed": {"type": "string"},
        },
        "required": ["tag", "owner_name"],
    }
    made = post("/database/modify", {"code": "dogs", "schema": schema}, world["owner"])
    assert made.status_code == 200 and made.json()["version"] == "1.0" and made.json()["keyField"] == "tag"
    assert (
        post("/database/modify", {"code": "dogs", "schema": {"type": 5}}, world["owner"]).status_code == 400
    )
    assert (
        post("/database/modify", {"code": "dogs", "schema": schema}, world["writer_elsewhere"]).status_code
        == 403
    )
    codes_listed = [d["code"] for d in Client().get(f"{BASE}/databases", **world["reader"]).json()]
    assert {"population", "dogs"} <= set(codes_listed)
    dog = {"tag": "LJ-0001", "owner_name": "张三", "breed": "柴犬"}
    assert post("/data/dogs/1.0/create", {"write": {"content": dog}}, world["owner"]).status_code == 200
    bad = post("/data/dogs/1.0/create", {"write": {"content": {"tag": "LJ-2"}}}, world["owner"])
    assert bad.status_code == 400
    query = {"query": {"content": {"breed": "柴犬"}}}
    assert post("/data/dogs/1.0/read", query, world["reader"]).status_code == 403  # not published yet
    dogs = Registry.objects.get(code="dogs")
    published = services.resource_create(
        acting_user=None,
        registry=dogs,
        code="dogs",
        name="犬只登记",
        share_type=ShareType.UNCONDITIONAL,
        fields=[("tag", "犬牌号", 1), ("owner_name", "犬主姓名", 3), ("breed", "品种", 1)],
    )
    found = post("/data/dogs/1.0/read", query, world["reader"])
    assert found.json()["content"] == {**dog, "owner_name": "**"}  # grade 3 of two characters: all masked
    # A text search looks only in the fields the reader may filter by (not the masked owner's name).
    by_owner = {"search": "张三"}
    assert Client().get(f"{BASE}/data/dogs/1.0", by_owner, **world["reader"]).json()["count"] == 0
    assert Client().get(f"{BASE}/data/dogs/1.0", by_owner, **world["owner"]).json()["count"] == 1
    assert Client().get(f"{BASE}/data/dogs/1.0", {"search": "柴"}, **world["reader"]).json()["count"] == 1
    refused = post("/data/dogs/1.0/exists", {"query": {"content": {"owner_name": "张三"}}}, world["reader"])
    assert refused.status_code == 403 and refused.json()["detail"].endswith(": owner_name")
    assert post("/data/dogs/1.0/read", query, world["owner"]).json()["content"] == dog
    database_id = made.json()["id"]
    assert Client().get(f"{BASE}/database/{database_id}", **world["reader"]).json()["schema"] == schema
    assert Client().delete(f"{BASE}/database/{world['registry'].pk}", **world["owner"]).status_code == 403
    assert Client().delete(f"{BASE}/database/{database_id}", **world["owner"]).status_code == 409
    published.delete()
    assert Client().delete(f"{BASE}/database/{database_id}", **world["owner"]).status_code == 200
    assert not Registry.objects.filter(code="dogs").exists()


def test_other_departments_see_what_the_catalogue_and_their_grants_give(world, calendar):
    from tongban.exchange.models import Resource

    health = world["registry"].owner.__class__.objects.get(code="ljs-wjw")
    by_key = {"query": {"content": {"id_number": number(1)}}}
    by_phone = {"query": {"content": {"phone": "13900000001"}}}
    assert post("/data/population/1.0/read", by_phone, world["reader"]).status_code == 403
    contact = services.resource_create(
        acting_user=None,
        registry=world["registry"],
        code="person-contact",
        name="人口联系信息",
        share_type=ShareType.CONDITIONAL,
        fields=[("id_number", "公民身份号码", 3), ("phone", "联系电话", 4)],
        legal_basis="《个人信息保护法》",
        area_field="area_code",
    )
    request = services.share_request_submit(
        acting_user=None,
        resource=contact,
        consumer=health,
        purpose="随访",
        legal_basis="职责",
        fields=["id_number", "phone"],
        scope_areas=["339903"],  # another district than these residents'
    )
    grant = services.share_request_answer(acting_user=None, share_request=request, approve=True).grant
    # Issue 15 #1: the phone is granted, but masked (grade 4) and in one district only: no filter by it.
    for query in (by_phone, {"query": {"content": {"id_number": number(1), "phone": "13900000001"}}}):
        refused = post("/data/population/1.0/read", query, world["reader"])
        assert refused.status_code == 403
        assert refused.json()["detail"] == "fields not shared in clear with your department: phone"
    asked = post("/data/population/1.0/exists", by_phone, world["reader"])
    assert asked.status_code == 403 and "phone" in asked.json()["detail"]
    listed = Client().get(f"{BASE}/data/population/1.0", {"query.phone": "13900000001"}, **world["reader"])
    assert listed.status_code == 403 and listed.json()["detail"].endswith(": phone")
    grant.clear_fields = ["phone"]
    grant.save()
    # In clear, but only in 339903 while the basic resource shows every record: still refused.
    assert post("/data/population/1.0/read", by_phone, world["reader"]).status_code == 403
    outside = post("/data/population/1.0/read", by_key, world["reader"]).json()["content"]
    assert "phone" not in outside and outside["id_number"] == number(1)  # the grant's area excludes them
    grant.scope_areas = ["339902"]
    grant.save()
    grant.clear_fields = []
    grant.save()
    inside = post("/data/population/1.0/read", by_key, world["reader"]).json()["content"]
    assert inside["phone"] == "********" and inside["id_number"] == number(1)  # the clearest grade wins
    grant.scope_areas, grant.clear_fields = [], ["phone"]  # in clear everywhere: now it may filter by it
    grant.save()
    found = post("/data/population/1.0/read", by_phone, world["reader"])
    assert found.status_code == 200 and found.json()["content"]["phone"] == "13900000001"
    assert (
        post("/data/population/1.0/read", by_key, world["owner"]).json()["content"]["phone"] == "13900000001"
    )
    # With nothing published, nothing is shared.
    Resource.objects.update(is_active=False)  # behind the signals' back: as if a second had passed
    clear_all()
    gateway.forget_grants()
    refused = post("/data/population/1.0/read", by_key, world["reader"])
    assert refused.status_code == 403 and "resource catalogue" in refused.json()["detail"]
    assert Client().get(f"{BASE}/data/population/1.0", **world["reader"]).status_code == 403


def test_reads_carry_a_receipt_that_verifies_offline(world):
    from tongban.exchange import auditlog
    from tongban.exchange.verify import check_receipt
    from tongban.licences.services import key_directory

    read = post(
        "/data/population/1.0/read", {"query": {"content": {"id_number": number(1)}}}, world["reader"]
    )
    listed = Client().get(f"{BASE}/data/population/1.0", {"pageSize": 2}, **world["reader"])
    text = Client().get(f"{BASE}/data/population/1.0/{number(2)}/readValue/sex.txt", **world["reader"])
    auditlog.checkpoint_sign()
    indexes = set()
    for response, answer in ((read, read.json()), (listed, listed.json()), (text, "F")):
        salt = response["Tongban-Digest-Salt"]  # the client's alone: it can recompute the hash
        assert response["Tongban-Response-Hash"] == auditlog.digest(answer, salt)
        bundle = Client().get(response["Tongban-Receipt"], **world["reader"])  # the reading token will do
        assert bundle.status_code == 200 and check_receipt(bundle.json(), key_directory()) == ""
        entry = json.loads(bundle.json()["entry"])
        assert entry["kind"] == "registry_read" and bundle.json()["index"] == int(
            response["Tongban-Log-Index"]
        )
        assert (entry["request"], entry["response"]) == (
            response["Tongban-Request-Hash"],
            response["Tongban-Response-Hash"],
        )
        indexes.add(bundle.json()["index"])
    assert len(indexes) == 3
    assert Client().get(read["Tongban-Receipt"], HTTP_AUTHORIZATION="Bearer forged").status_code == 401


def test_a_covert_read_stays_out_of_the_person_s_usage_until_its_date(world, calendar):
    """Issue 15 #8: a read through the Digital Registries API under a grant held back (暂缓告知) is neither
    on the person's /my/data-usage/ nor in myPersonalDataUsage, whoever asks, until the hold ends; the same
    for the gateway's reads, which myPersonalDataUsage lists too."""
    from django.utils import timezone

    from tongban.identity.models import Department
    from tongban.identity.tests.factories import PersonFactory, UserFactory

    health = Department.objects.get(code="ljs-wjw")
    police = DepartmentFactory(code="ljs-gaj-jz", name="临江市公安局经侦支队")
    contact = services.resource_create(
        acting_user=None,
        registry=world["registry"],
        code="person-contact",
        name="人口联系信息",
        share_type=ShareType.CONDITIONAL,
        fields=[("id_number", "公民身份号码", 3), ("phone", "联系电话", 4)],
        legal_basis="《刑事诉讼法》",
        area_field="area_code",
    )
    request = services.share_request_submit(
        acting_user=None,
        resource=contact,
        consumer=police,
        purpose="案件侦查",
        legal_basis="《刑事诉讼法》第五十四条",
        fields=["id_number", "phone"],
    )
    grant = services.share_request_answer(acting_user=None, share_request=request, approve=True).grant
    services.grant_hold(
        acting_user=None, grant=grant, hold_until=timezone.localdate() + dt.timedelta(days=90), reason="侦查"
    )
    investigator = token(police, "registries.read", "exchange.read")
    by_key = {"query": {"content": {"id_number": number(3)}}}
    read = post("/data/population/1.0/read", by_key, investigator)
    assert read.status_code == 200 and read.json()["content"]["phone"] == "********"
    assert list(RegistryRead.objects.get(client__department=police).grants.all()) == [grant]
    gateway_read = Client().get(f"/api/exchange/gateway/person-contact/records/{number(3)}", **investigator)
    assert gateway_read.status_code == 200

    usage = {"userId": number(3), "databaseId": "population"}
    for caller in (world["owner"], world["reader"], investigator):  # the owner, a third department, itself
        asked = Client().get(f"{BASE}/data/myPersonalDataUsage", usage, **caller)
        assert asked.status_code == 404 and asked.json()["detail"] == "no reads of this person's data"
    citizen = UserFactory(person=PersonFactory(id_number=number(3), name="居民3"))
    mine = Client()
    mine.force_login(citizen)
    page = mine.get("/my/data-usage/")
    assert page.status_code == 200 and "还没有部门读取过您的数据。" in page.content.decode()
    assert "经侦支队" not in page.content.decode()

    # An open read by another department shows at once, beside nothing of the held ones.
    post("/data/population/1.0/read", by_key, world["reader"])
    listed = Client().get(f"{BASE}/data/myPersonalDataUsage", usage, **world["reader"]).json()
    assert [r["readerInstitutionName"] for r in listed] == ["临江市卫生健康委员会"]
    assert "临江市卫生健康委员会" in mine.get("/my/data-usage/").content.decode()

    services.grant_hold(acting_user=None, grant=grant, hold_until=None, reason="")  # the hold ends
    listed = Client().get(f"{BASE}/data/myPersonalDataUsage", usage, **world["reader"]).json()
    assert sorted(r["readerInstitutionName"] for r in listed) == [
        "临江市公安局经侦支队",
        "临江市公安局经侦支队",  # its Digital Registries read and its gateway read
        "临江市卫生健康委员会",
    ]
    assert {r["id"][0] for r in listed} == {"r", "g"}
    assert mine.get("/my/data-usage/").content.decode().count("临江市公安局经侦支队") == 2
    assert health.name in mine.get("/my/data-usage/").content.decode()
