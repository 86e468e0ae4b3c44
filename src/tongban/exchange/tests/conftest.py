"""The exchange tests' city (``world``) and its helpers (``grant_for``), shared by the gateway, fast path,
server and page tests."""

import pytest
from django.db import connection
from django.test import Client

from tongban.core.cache import clear_all
from tongban.exchange import services
from tongban.exchange.models import ShareType
from tongban.identity.tests.factories import AreaFactory, DepartmentFactory
from tongban.registries import loader
from tongban.registries.models import Registry, RegistryKind
from tongban.testing import resident_number as number
from tongban.testing import token

BASE = "/api/exchange"
TABLES = ("exchange_logentry", "exchange_lognode", "exchange_checkpoint")


@pytest.fixture
def log_emptied_after(transactional_db):
    """For tests with real transactions: after the test, the log's tables can be emptied like the others."""
    yield
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for table in TABLES:
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


FIELDS = [
    ("id_number", "公民身份号码", 3),
    ("name", "姓名", 2),
    ("phone", "联系电话", 4),
    ("area_code", "户籍地", 1),
]


@pytest.fixture
def world(settings, calendar):
    """The gateway's city: the data bureau, the police's population registry of five residents (three in
    江城区, two in 东湖区), a conditional and an unconditional resource over it, and systems of the health
    commission and a district office with exchange.read tokens."""
    clear_all()
    operator = DepartmentFactory(code=settings.TONGBAN_EXCHANGE_OPERATOR, name="临江市数据局")
    police = DepartmentFactory(code="ljs-gaj", name="临江市公安局")
    health = DepartmentFactory(code="ljs-wjw", name="临江市卫生健康委员会")
    district = DepartmentFactory(
        code="jc-mzj", name="江城区民政局", area=AreaFactory(code="339903", name="东湖区")
    )
    registry = Registry.objects.create(
        code="population", name="人口库", kind=RegistryKind.POPULATION, owner=police, key_field="id_number"
    )
    rows = [
        {
            "id_number": number(i, "339902" if i < 3 else "339903"),
            "name": f"居民{i}",
            "phone": f"1390000000{i}",
            "area_code": "339902" if i < 3 else "339903",
        }
        for i in range(5)
    ]
    loader.load(registry, rows, source="seed", batch_size=10)
    conditional = services.resource_create(
        acting_user=None,
        registry=registry,
        code="person-basic",
        name="人口基本信息",
        share_type=ShareType.CONDITIONAL,
        fields=FIELDS,
        legal_basis="《居民身份证法》",
        area_field="area_code",
    )
    open_one = services.resource_create(
        acting_user=None,
        registry=registry,
        code="person-names",
        name="人口姓名",
        share_type=ShareType.UNCONDITIONAL,
        fields=[("id_number", "公民身份号码", 3), ("name", "姓名", 2)],
    )
    return {
        "operator": operator,
        "police": police,
        "health": health,
        "district": district,
        "conditional": conditional,
        "open": open_one,
        "health_token": token(health, "exchange.read"),
        "district_token": token(district, "exchange.read"),
    }


def grant_for(world, consumer, fields, **extra):
    request = services.share_request_submit(
        acting_user=None,
        resource=world["conditional"],
        consumer=consumer,
        purpose="出生医学证明办理",
        legal_basis="《母婴保健法》",
        fields=fields,
        **{k: v for k, v in extra.items() if k in {"scope_areas", "rate_per_minute"}},
    )
    answered = services.share_request_answer(
        acting_user=None, share_request=request, approve=True, clear_fields=extra.get("clear_fields", ())
    )
    return answered.grant


def get(path, headers, **params):
    """A GET of the exchange API as the system whose ``headers`` are given."""
    return Client().get(f"{BASE}{path}", params, **headers)
