"""The staff record page (issue 15 #7): staff of the owning department see the whole record and its
history; staff of another department read through their department's grants, like its systems, and every
such read is recorded for the person (/my/data-usage/) and in the Merkle audit log, hold-back included."""

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from tongban.core import codes
from tongban.core.cache import clear_all
from tongban.exchange import gateway, services
from tongban.exchange.demo import ENTITY_BASIC, PERSON_BASIC
from tongban.exchange.models import LogEntry, ShareType
from tongban.identity.tests.factories import ROLE, DepartmentFactory, PersonFactory, StaffFactory, UserFactory
from tongban.registries import access
from tongban.registries.models import LegalEntityRecord, PersonRecord, Registry, RegistryKind, RegistryRead
from tongban.testing import login_staff

pytestmark = pytest.mark.django_db
PERSON = codes.make_resident_id("339902", dt.date(1980, 3, 3), 7)
USCC = codes.make_uscc("9", "1", "339902", "MA2ABCD0")
NOTHING_SHARED = "该库没有向本部门共享任何数据。如因履职需要，请在资源目录中提交共享申请。"


def staff(department):
    client = Client()
    login_staff(client, StaffFactory(roles=[(department, ROLE.DATA_OFFICER)], totp=True))
    return client


@pytest.fixture
def city(settings, calendar):
    clear_all()
    gateway.forget_grants()
    DepartmentFactory(code=settings.TONGBAN_EXCHANGE_OPERATOR, name="临江市数据局")
    police = DepartmentFactory(code="ljs-gaj", name="临江市公安局")
    market = DepartmentFactory(code="ljs-scjgj", name="临江市市场监督管理局")
    health = DepartmentFactory(code="ljs-wjw", name="临江市卫生健康委员会")
    population = Registry.objects.create(
        code="population", name="人口库", kind=RegistryKind.POPULATION, owner=police, key_field="id_number"
    )
    entities = Registry.objects.create(
        code="legal-entity", name="法人库", kind=RegistryKind.LEGAL_ENTITY, owner=market, key_field="uscc"
    )
    PersonRecord.objects.create(
        id_number=PERSON,
        name="王秀英",
        sex="F",
        birth_date=dt.date(1980, 3, 3),
        ethnicity="03",
        marital_status="20",
        phone="13900001111",
        household_address="临江市江城区滨江路1号",
        area_code="339902",
    )
    LegalEntityRecord.objects.create(
        uscc=USCC,
        name="临江好味餐饮有限公司",
        legal_rep_id_number=PERSON,
        registered_capital="350.5",
        business_scope="餐饮服务；预包装食品销售",
        area_code="339902",
    )
    access.update(population, PersonRecord.objects.filter(id_number=PERSON), {"name": "王秀英"}, source="x")
    access.update(
        population, PersonRecord.objects.filter(id_number=PERSON), {"phone": "13900002222"}, source="户籍窗口"
    )
    return {
        "population": population,
        "entities": entities,
        "police": police,
        "health": health,
        "citizen": UserFactory(person=PersonFactory(id_number=PERSON, name="王秀英")),
    }


def publish_basic(city):
    for registry, code, fields in (
        (city["population"], "person-basic", PERSON_BASIC),
        (city["entities"], "entity-basic", ENTITY_BASIC),
    ):
        services.resource_create(
            acting_user=None,
            registry=registry,
            code=code,
            name=code,
            share_type=ShareType.UNCONDITIONAL,
            fields=fields,
            legal_basis="基础库无条件共享",
            area_field="area_code",
        )


def test_another_department_s_staff_read_only_what_its_grants_release(city):
    outsider = staff(city["health"])  # like weijian.data in the demo
    refused = outsider.get("/staff/registries/population/", {"key": PERSON})
    assert refused.status_code == 403 and NOTHING_SHARED in refused.content.decode()
    assert not RegistryRead.objects.exists()

    publish_basic(city)  # what the demo's catalogue shares
    page = outsider.get("/staff/registries/population/", {"key": PERSON})
    body = page.content.decode()
    assert page.status_code == 200 and "王秀英" in body and "area_code" in body
    for hidden in ("ethnicity", "marital_status", "phone", "13900002222", "滨江路", "household_address"):
        assert hidden not in body  # no resource shares them
    shown = body[body.index('<dl class="card">') :]  # the key itself is in the form the officer filled
    assert PERSON not in shown and PERSON[:4] + "*" in shown  # grade 3: masked as at the gateway
    assert "变更历史" not in body and "户籍窗口" not in body  # the history is the owner's
    firm = outsider.get("/staff/registries/legal-entity/", {"key": USCC}).content.decode()
    assert "临江好味餐饮有限公司" in firm
    for hidden in ("registered_capital", "350.5", "business_scope", "餐饮服务", "legal_rep_id_number"):
        assert hidden not in firm

    # Each read is recorded like a system's: for the person, and in the Merkle log.
    read = RegistryRead.objects.get(registry=city["population"])
    assert (read.reader_department, read.operation) == (city["health"], "staff_view")
    assert "ethnicity" not in read.fields and "name" in read.fields
    entry = json.loads(LogEntry.objects.filter(kind="staff_read").first().leaf)
    assert (entry["consumer"], entry["records"], entry["operation"]) == ("ljs-wjw", 1, "staff_view")
    assert PERSON not in LogEntry.objects.filter(kind="staff_read").first().leaf
    mine = Client()
    mine.force_login(city["citizen"])
    usage = mine.get("/my/data-usage/").content.decode()
    assert usage.count("临江市卫生健康委员会") == 2  # the resident record and the company they represent

    # The owning department keeps the whole record and its history.
    owner = staff(city["police"]).get("/staff/registries/population/", {"key": PERSON}).content.decode()
    assert all(v in owner for v in (PERSON, "13900002222", "ethnicity", "滨江路", "变更历史", "户籍窗口"))


def test_a_held_grant_hides_the_staff_read_too(city):
    publish_basic(city)
    contact = services.resource_create(
        acting_user=None,
        registry=city["population"],
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
        consumer=city["health"],
        purpose="协查",
        legal_basis="协查函",
        fields=["id_number", "phone"],
    )
    grant = services.share_request_answer(acting_user=None, share_request=request, approve=True).grant
    services.grant_hold(
        acting_user=None, grant=grant, hold_until=timezone.localdate() + dt.timedelta(days=30), reason="侦查"
    )
    page = staff(city["health"]).get("/staff/registries/population/", {"key": PERSON}).content.decode()
    assert "phone" in page and "13900002222" not in page and "********" in page  # grade 4, fully masked
    mine = Client()
    mine.force_login(city["citizen"])
    assert "临江市卫生健康委员会" not in mine.get("/my/data-usage/").content.decode()
    services.grant_hold(acting_user=None, grant=grant, hold_until=None, reason="")
    assert "临江市卫生健康委员会" in mine.get("/my/data-usage/").content.decode()
