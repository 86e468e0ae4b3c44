"""The registries tests' cities: ``world`` (the Digital Registries API over a population registry) and
``registries`` (the quality rules), with their helpers."""

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from tongban.core import codes
from tongban.core.cache import clear_all
from tongban.exchange import services
from tongban.exchange.models import ShareType
from tongban.identity.tests.factories import DepartmentFactory
from tongban.registries import loader
from tongban.registries.models import (
    LegalEntityRecord,
    PersonRecord,
    QualityRule,
    Registry,
    RegistryKind,
    RuleKind,
)
from tongban.testing import resident_number as number
from tongban.testing import token

BASE = "/api/registries"


@pytest.fixture
def world(settings):
    """The Digital Registries API's city: the police's population registry of five residents, published
    (without the phone) in the sharing catalogue, and tokens of the owner and of the health commission."""
    clear_all()
    DepartmentFactory(code=settings.TONGBAN_EXCHANGE_OPERATOR, name="临江市数据局")
    police = DepartmentFactory(code="ljs-gaj", name="临江市公安局")
    health = DepartmentFactory(code="ljs-wjw", name="临江市卫生健康委员会")
    registry = Registry.objects.create(
        code="population", name="人口库", kind=RegistryKind.POPULATION, owner=police, key_field="id_number"
    )
    rows = [
        {
            "id_number": number(i),
            "name": f"居民{i}",
            "sex": "F",
            "phone": f"1390000000{i}",
            "area_code": "339902",
        }
        for i in range(5)
    ]
    loader.load(registry, rows, source="seed", batch_size=10)
    # What other departments may read is what the sharing catalogue publishes (phone: not published).
    services.resource_create(
        acting_user=None,
        registry=registry,
        code="person-basic",
        name="人口基本信息",
        share_type=ShareType.UNCONDITIONAL,
        fields=[
            ("id_number", "公民身份号码", 1),
            ("name", "姓名", 2),
            ("sex", "性别", 1),
            ("area_code", "户籍地", 1),
        ],
        area_field="area_code",
    )
    return {
        "registry": registry,
        "owner": token(police, "registries.read", "registries.write"),
        "reader": token(health, "registries.read"),
        "writer_elsewhere": token(health, "registries.read", "registries.write"),
    }


def post(path, body, headers, method="post"):
    return getattr(Client(), method)(
        f"{BASE}{path}", json.dumps(body), content_type="application/json", **headers
    )


def pid(n, born=dt.date(1980, 1, 1)):
    return codes.make_resident_id("339902", born + dt.timedelta(days=n), n + 1)


@pytest.fixture
def registries():
    """The quality rules' registries: the police's population and the market regulator's legal entities,
    good records and one of each defect, a rule of every kind."""
    police, market = DepartmentFactory(code="ljs-gaj"), DepartmentFactory(code="ljs-scjgj")
    population = Registry.objects.create(
        code="population", name="人口库", kind=RegistryKind.POPULATION, owner=police, key_field="id_number"
    )
    entities = Registry.objects.create(
        code="legal-entity", name="法人库", kind=RegistryKind.LEGAL_ENTITY, owner=market, key_field="uscc"
    )
    good = [
        PersonRecord(
            id_number=pid(i),
            name=f"居民{i}",
            birth_date=dt.date(1980, 1, 1) + dt.timedelta(days=i),
            area_code="339902",
            marital_status="20",
            phone="13900000000",
        )
        for i in range(6)
    ]
    bad_check = pid(6)[:-1] + ("0" if pid(6)[-1] != "0" else "1")
    defects = [
        PersonRecord(
            id_number=bad_check, name="校验位错", birth_date=dt.date(1980, 1, 7), area_code="339902"
        ),
        PersonRecord(id_number="33990219800108ABCD", name="格式错", area_code="339902"),
        PersonRecord(
            id_number=pid(9), name="", birth_date=dt.date(1980, 1, 10), area_code="3399"
        ),  # empty, bad area
        PersonRecord(
            id_number=pid(10),
            name="生日不符",
            birth_date=dt.date(1999, 9, 9),
            area_code="339902",
            marital_status="77",
        ),
        PersonRecord(
            id_number=pid(11),
            name="居民0",
            birth_date=dt.date(1980, 1, 1),
            area_code="339902",
            status=PersonRecord.DECEASED,
        ),  # same name and birth date as 居民0: a duplicate
        PersonRecord(id_number=pid(12), name="未来人", birth_date=dt.date(2999, 1, 1), area_code="339902"),
    ]
    PersonRecord.objects.bulk_create(good + defects)
    LegalEntityRecord.objects.bulk_create(
        [
            LegalEntityRecord(
                uscc=codes.make_uscc("9", "1", "339902", "MA2ABCD0"),
                name="好公司",
                legal_rep_id_number=pid(1),
            ),
            LegalEntityRecord(
                uscc=codes.make_uscc("9", "1", "339902", "MA2ABCD1"),
                name="代表已故",
                legal_rep_id_number=pid(11),
            ),
            LegalEntityRecord(
                uscc=codes.make_uscc("9", "1", "339902", "MA2ABCD2"),
                name="查无此人",
                legal_rep_id_number=pid(50),
            ),
            LegalEntityRecord(uscc="91339902MA2ABCD3XX", name="坏代码", legal_rep_id_number=pid(2)),
        ]
    )
    PersonRecord.objects.filter(id_number=pid(5)).update(updated_at=timezone.now() - dt.timedelta(days=800))
    rules = [
        (population, "name-present", RuleKind.COMPLETENESS, "name", {}),
        (population, "id-valid", RuleKind.ID_NUMBER, "id_number", {}),
        (population, "area-format", RuleKind.AREA_CODE, "area_code", {}),
        (
            population,
            "marital-code",
            RuleKind.CODE_LIST,
            "marital_status",
            {"values": ["10", "20", "21", "22", "23", "30", "40", "90"]},
        ),
        (population, "birth-range", RuleKind.RANGE, "birth_date", {"min": "1900-01-01", "max": "today"}),
        (population, "birth-id", RuleKind.BIRTH_MATCHES_ID, "", {}),
        (population, "no-duplicates", RuleKind.DUPLICATE, "", {"fields": ["name", "birth_date"]}),
        (population, "fresh", RuleKind.TIMELINESS, "", {"days": 365}),
        (entities, "uscc-valid", RuleKind.USCC, "uscc", {}),
        (entities, "rep-alive", RuleKind.LEGAL_REP_ALIVE, "", {}),
    ]
    for registry, code, kind, field, params in rules:
        QualityRule.objects.create(
            registry=registry, code=code, name=code, kind=kind, field=field, params=params
        )
    return population, entities
