"""The demo city's data sharing: the base registries in the catalogue (basic data unconditional, contact
and representative data conditional), one approved grant, one pending and one refused request, a system
client of 市卫健委 that calls the gateway, so the data tracker and the audit log have true entries."""

from __future__ import annotations

import contextlib

from tongban.identity.models import Department, Person
from tongban.identity.services import system_client_create
from tongban.registries.models import Registry

from . import auditlog, bulk, gateway, services
from .models import ShareType

PERSON_BASIC = [
    ("id_number", "公民身份号码", 3),
    ("name", "姓名", 2),
    ("sex", "性别", 1),
    ("birth_date", "出生日期", 2),
    ("area_code", "户籍地区划", 1),
    ("status", "状态", 1),
]
PERSON_CONTACT = [
    ("id_number", "公民身份号码", 3),
    ("name", "姓名", 2),
    ("phone", "联系电话", 4),
    ("household_address", "户籍地址", 3),
    ("marital_status", "婚姻状况", 3),
    ("area_code", "户籍地区划", 1),
]
ENTITY_BASIC = [
    ("uscc", "统一社会信用代码", 1),
    ("name", "名称", 1),
    ("entity_type", "类型", 1),
    ("established_on", "成立日期", 1),
    ("address", "住所", 2),
    ("area_code", "登记地区划", 1),
    ("status", "登记状态", 1),
]
ENTITY_REP = [
    ("uscc", "统一社会信用代码", 1),
    ("name", "名称", 1),
    ("legal_rep_id_number", "法定代表人身份号码", 3),
]


def build_demo_exchange() -> tuple[str, str]:
    """Returns the demo gateway client's id and secret (shown once, like any new client)."""
    population = Registry.objects.get(code="population")
    entities = Registry.objects.get(code="legal-entity")
    health = Department.objects.get(code="ljs-wjw")
    social = Department.objects.get(code="ljs-rsj")
    base = "《政务数据共享条例》第十三条：基础库无条件共享"
    services.resource_create(
        acting_user=None,
        registry=population,
        code="person-basic",
        name="人口基本信息",
        share_type=ShareType.UNCONDITIONAL,
        fields=PERSON_BASIC,
        theme="人口",
        legal_basis=base,
        description="人口库中的身份号码、姓名、性别、出生日期、户籍地和状态。",
        area_field="area_code",
        via_bulk=True,
    )
    contact = services.resource_create(
        acting_user=None,
        registry=population,
        code="person-contact",
        name="人口联系与婚姻信息",
        share_type=ShareType.CONDITIONAL,
        fields=PERSON_CONTACT,
        theme="人口",
        legal_basis="《中华人民共和国个人信息保护法》第三十四条",
        share_condition="限履行法定职责所必需",
        area_field="area_code",
        update_frequency="realtime",
    )
    services.resource_create(
        acting_user=None,
        registry=entities,
        code="entity-basic",
        name="法人基本信息",
        share_type=ShareType.UNCONDITIONAL,
        fields=ENTITY_BASIC,
        theme="法人",
        legal_basis=base,
        area_field="area_code",
        via_bulk=True,
    )
    rep = services.resource_create(
        acting_user=None,
        registry=entities,
        code="entity-legal-rep",
        name="法定代表人信息",
        share_type=ShareType.CONDITIONAL,
        fields=ENTITY_REP,
        theme="法人",
        legal_basis="《优化营商环境条例》第三十七条",
        share_condition="限市场准入、监管执法",
    )
    approved = services.share_request_submit(
        acting_user=None,
        resource=contact,
        consumer=social,
        purpose="社会保险参保登记与待遇发放联系",
        legal_basis="《社会保险法》第五十九条",
        fields=["id_number", "name", "phone", "area_code"],
    )
    services.share_request_answer(
        acting_user=None, share_request=approved, approve=True, clear_fields=["id_number"]
    )
    refused = services.share_request_submit(
        acting_user=None,
        resource=contact,
        consumer=health,
        purpose="健康档案补全",
        legal_basis="职责文件",
        fields=["phone", "marital_status"],
    )
    services.share_request_answer(
        acting_user=None,
        share_request=refused,
        approve=False,
        reason="婚姻状况不属于健康档案所必需；联系电话请通过人口基本信息以外的渠道由本人提供。",
    )
    services.share_request_submit(
        acting_user=None,
        resource=rep,
        consumer=health,
        purpose="医疗机构执业登记核验法定代表人",
        legal_basis="《医疗机构管理条例》第十条",
        fields=["uscc", "name", "legal_rep_id_number"],
    )
    client, secret = system_client_create(
        acting_user=None, department=health, name="卫健委出生医学证明系统", scopes=["exchange.read"]
    )
    # A few reads, so that the demo citizens' data trackers and the audit log are not empty.
    for person in Person.objects.order_by("pk")[:3]:
        call = gateway.Call(
            client=client, resource_code="person-basic", key=person.id_number, purpose="出生医学证明签发核验"
        )
        with contextlib.suppress(gateway.GatewayError):  # a person missing from the registry: logged too
            gateway.query(call)
    _demo_bulk(client)
    auditlog.checkpoint_sign()
    return client.application.client_id, secret


def _demo_bulk(city_client: object) -> None:
    """江城公安分局 pushes newly registered residents up once (汇聚); 市卫健委 subscribes to the whole city and
    江城区卫健局 gets its own area back (回流), each having pulled and acknowledged its first batch."""
    import datetime as dt

    from tongban.core import codes

    station = system_client_create(
        acting_user=None,
        department=Department.objects.get(code="jc-gaj"),
        name="江城公安分局户籍系统",
        scopes=["exchange.write"],
    )[0]
    born = dt.date(2026, 11, 2)
    newborns = [
        {
            "id_number": codes.make_resident_id("339902", born + dt.timedelta(days=i), 501 + 2 * i),
            "name": name,
            "sex": "男" if i % 2 == 0 else "女",
            "birth_date": (born + dt.timedelta(days=i)).isoformat(),
            "area_code": "339902001",
            "household_address": "临江市江城区滨江路88号",
        }
        for i, name in enumerate(["陈子墨", "林若溪", "周沐阳"])
    ]
    bulk.push(client=station, resource_code="person-basic", batch_ref="JC-HJ-20261120-001", records=newborns)
    district = system_client_create(
        acting_user=None,
        department=Department.objects.get(code="jc-wjw"),
        name="江城区基层卫生信息系统",
        scopes=["exchange.read"],
    )[0]
    for client, purpose in [(city_client, "妇幼健康服务对象名单"), (district, "家庭医生签约居民名单")]:
        subscription = bulk.subscription_create(client=client, resource_code="person-basic", purpose=purpose)
        batch = bulk.deliver(subscription, after=0, limit=bulk.MAX_BATCH)
        subscription.refresh_from_db()
        bulk.subscription_ack(subscription, batch.next_after)
