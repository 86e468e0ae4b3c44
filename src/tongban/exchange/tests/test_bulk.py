"""Bulk subscription through HTTP: the snapshot, then the changes by number; resumable, idempotent on
replay; the return flow to a district filtered to its area (moves and deletions included); grants enforced
on every batch; and aggregation from a district, once per batch reference."""

import datetime as dt
import hashlib
import hmac
import json

import pytest
from django.test import Client

from tongban.core import codes
from tongban.core.cache import clear_all
from tongban.exchange import pseudonyms, services
from tongban.exchange.gateway import area_prefix, mask
from tongban.exchange.models import LogEntry, ShareType, Subscription
from tongban.identity.models import AreaLevel
from tongban.identity.tests.factories import AreaFactory, DepartmentFactory
from tongban.registries import access, loader
from tongban.registries.models import LoadJob, PersonRecord, RecordChange, Registry, RegistryKind, Tombstone
from tongban.testing import token

pytestmark = pytest.mark.django_db
BASE = "/api/exchange"


def number(n, area="339902"):
    return codes.make_resident_id(area[:6], dt.date(1980, 1, 1) + dt.timedelta(days=n), n + 1)


def key(pk, value):
    """A record's key as subscription ``pk`` receives it: its pseudonym (the ID number is masked for it)."""
    return pseudonyms.feed_pseudonyms(pk)(value)


def person(n, area):
    return {"id_number": number(n, area), "name": f"居民{n}", "phone": f"1390000{n:04d}", "area_code": area}


@pytest.fixture
def city(settings, calendar):
    clear_all()
    city_area = AreaFactory(code="339900", name="临江市", level=AreaLevel.CITY)
    jc = AreaFactory(code="339902", name="江城区", parent=city_area)
    dh = AreaFactory(code="339903", name="东湖区", parent=city_area)
    DepartmentFactory(code=settings.TONGBAN_EXCHANGE_OPERATOR, name="临江市数据局", area=city_area)
    police = DepartmentFactory(code="ljs-gaj", name="临江市公安局", area=city_area)
    health = DepartmentFactory(code="ljs-wjw", name="临江市卫生健康委员会", area=city_area)
    jc_police = DepartmentFactory(code="jc-gaj", name="江城公安分局", area=jc, level="county", parent=police)
    jc_health = DepartmentFactory(code="jc-wjw", name="江城区卫健局", area=jc, level="county", parent=health)
    dh_health = DepartmentFactory(code="dh-wjw", name="东湖区卫健局", area=dh, level="county", parent=health)
    registry = Registry.objects.create(
        code="population", name="人口库", kind=RegistryKind.POPULATION, owner=police, key_field="id_number"
    )
    rows = [person(i, "339902") for i in range(4)] + [person(i, "339903") for i in range(4, 7)]
    loader.load(registry, rows, source="seed", batch_size=3)
    common = {"acting_user": None, "registry": registry, "area_field": "area_code", "via_bulk": True}
    services.resource_create(
        code="person-basic",
        name="人口基本信息",
        share_type=ShareType.UNCONDITIONAL,
        fields=[("id_number", "公民身份号码", 3), ("name", "姓名", 2), ("area_code", "户籍地", 1)],
        **common,
    )
    contact = services.resource_create(
        code="person-contact",
        name="人口联系信息",
        share_type=ShareType.CONDITIONAL,
        fields=[("id_number", "公民身份号码", 3), ("name", "姓名", 2), ("phone", "电话", 4)],
        legal_basis="《个人信息保护法》第三十四条",
        **common,
    )
    services.resource_create(
        acting_user=None,
        registry=registry,
        code="person-api-only",
        name="人口（仅接口）",
        share_type=ShareType.UNCONDITIONAL,
        fields=[("name", "姓名", 2)],
    )
    return {
        "registry": registry,
        "contact": contact,
        "health": health,
        "jc_health": jc_health,
        "health_token": token(health, "exchange.read"),
        "jc_token": token(jc_health, "exchange.read"),
        "dh_token": token(dh_health, "exchange.read"),
        "jc_police_token": token(jc_police, "exchange.write"),
        "health_write_token": token(health, "exchange.write"),
    }


def subscribe(headers, resource="person-basic", **extra):
    body = {"resource": resource, "purpose": "妇幼健康服务对象名单", **extra}
    return Client().post(f"{BASE}/subscriptions", body, content_type="application/json", **headers)


def feed(headers, pk, **params):
    return Client().get(f"{BASE}/subscriptions/{pk}/feed", params, **headers)


def lines(response):
    return [json.loads(line) for line in response.content.decode().splitlines()]


def mirror(headers, pk, *, limit=10_000, after=0, state=None):
    """What a subscriber's system does: apply every batch to its copy until the feed has no more."""
    state = {} if state is None else state
    while True:
        response = feed(headers, pk, after=after, limit=limit)
        assert response.status_code == 200, response.content
        for line in lines(response):
            if line["op"] == "upsert":
                state[line["key"]] = line["data"]
            else:
                state.pop(line["key"], None)
        after = int(response["Tongban-Next-After"])
        if response["Tongban-More"] == "false":
            return state, after


def test_snapshot_then_changes_resumable_from_the_acknowledged_number(city):
    created = subscribe(city["health_token"])
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["down_to"] == ""  # a city department receives the whole city
    first = feed(city["health_token"], pk, after=0)
    assert first.status_code == 200 and first["Content-Type"].startswith("application/x-ndjson")
    got = lines(first)
    assert [line["op"] for line in got] == ["upsert"] * 7
    assert [line["seq"] for line in got] == sorted(line["seq"] for line in got)
    assert first["Tongban-Phase"] == "snapshot" and first["Tongban-More"] == "false"
    one = next(line for line in got if line["key"] == key(pk, number(0)))
    # The area code is masked where the ID number is: otherwise the two rebuild the number.
    assert one["data"] == {"id_number": mask(number(0), 3), "name": "居民0", "area_code": "3399**"}
    cursor = int(first["Tongban-Next-After"])
    ack = Client().post(
        f"{BASE}/subscriptions/{pk}/ack",
        {"seq": cursor},
        content_type="application/json",
        **city["health_token"],
    )
    assert ack.status_code == 200 and ack.json()["acknowledged_seq"] == cursor

    # Nothing new: an empty batch that keeps the cursor.
    idle = feed(city["health_token"], pk)
    assert idle.content == b"" and int(idle["Tongban-Next-After"]) == cursor

    registry = city["registry"]
    access.update(
        registry, PersonRecord.objects.filter(id_number=number(1)), {"name": "居民一"}, source="窗口"
    )
    loader.load(registry, [person(9, "339903")], source="新生儿落户")
    changes = feed(city["health_token"], pk)  # no cursor given: resumes from the acknowledged number
    assert changes["Tongban-Phase"] == "changes"
    assert [(line["key"], line["data"]["name"]) for line in lines(changes)] == [
        (key(pk, number(1)), "居民一"),
        (key(pk, number(9, "339903")), "居民9"),
    ]
    too_far = Client().post(
        f"{BASE}/subscriptions/{pk}/ack",
        {"seq": 10**9},
        content_type="application/json",
        **city["health_token"],
    )
    assert too_far.status_code == 400


def test_a_replayed_batch_is_the_same_bytes_and_pages_add_up_to_the_registry(city):
    pk = subscribe(city["health_token"]).json()["id"]
    once = feed(city["health_token"], pk, after=0, limit=3)
    again = feed(city["health_token"], pk, after=0, limit=3)
    assert once.content == again.content and once["Tongban-More"] == "true"
    # The subscriber recomputes the hash with the salt it alone was given (issue 15 #6).
    salt = once["Tongban-Digest-Salt"]
    assert (
        hmac.new(bytes.fromhex(salt), once.content, hashlib.sha256).hexdigest()
        == once["Tongban-Response-Hash"]
    )
    assert hashlib.sha256(once.content).hexdigest() != once["Tongban-Response-Hash"]
    assert again["Tongban-Digest-Salt"] != salt
    paged, _cursor = mirror(city["health_token"], pk, limit=2)
    whole, _ = mirror(city["health_token"], pk)
    assert paged == whole and len(whole) == PersonRecord.objects.count()
    # Applying the same pages again onto the copy changes nothing.
    replayed, _ = mirror(city["health_token"], pk, limit=2, state=dict(paged))
    assert replayed == paged
    # Every batch is in the audit log with the hash of the bytes delivered.
    logged = [json.loads(e.leaf) for e in LogEntry.objects.filter(kind="bulk")]
    assert once["Tongban-Response-Hash"] in {e["response"] for e in logged}
    assert int(once["Tongban-Log-Index"]) in {e.pk - 1 for e in LogEntry.objects.filter(kind="bulk")}


def test_return_flow_gives_a_district_its_own_area_and_follows_moves_and_deletions(city):
    jc = subscribe(city["jc_token"])
    assert jc.status_code == 201 and jc.json()["down_to"] == "339902"
    neighbour = subscribe(city["jc_token"], down_to="339903")
    assert neighbour.status_code == 403 and neighbour.json()["code"] == "outside_scope"
    jc_pk, dh_pk = jc.json()["id"], subscribe(city["dh_token"]).json()["id"]
    city_pk = subscribe(city["health_token"]).json()["id"]
    jc_copy, jc_cursor = mirror(city["jc_token"], jc_pk)
    dh_copy, dh_cursor = mirror(city["dh_token"], dh_pk)
    _city_copy, city_cursor = mirror(city["health_token"], city_pk)
    assert sorted(jc_copy) == sorted(key(jc_pk, number(i)) for i in range(4))
    assert sorted(dh_copy) == sorted(key(dh_pk, number(i, "339903")) for i in range(4, 7))

    registry = city["registry"]
    access.update(
        registry, PersonRecord.objects.filter(id_number=number(2)), {"area_code": "339903"}, source="迁移"
    )
    access.delete(registry, number(3))
    moved_away = lines(feed(city["jc_token"], jc_pk, after=jc_cursor))
    assert [(line["op"], line["key"], line.get("reason")) for line in moved_away] == [
        ("delete", key(jc_pk, number(2)), "moved_out"),
        ("delete", key(jc_pk, number(3)), "deleted"),
    ]
    arrived = lines(feed(city["dh_token"], dh_pk, after=dh_cursor))
    assert [(line["op"], line["key"]) for line in arrived] == [("upsert", key(dh_pk, number(2)))]
    whole_city = lines(feed(city["health_token"], city_pk, after=city_cursor))
    assert [(line["op"], line["key"]) for line in whole_city] == [
        ("upsert", key(city_pk, number(2))),
        ("delete", key(city_pk, number(3))),
    ]
    jc_copy, _ = mirror(city["jc_token"], jc_pk, after=jc_cursor, state=jc_copy)
    assert sorted(jc_copy) == sorted(key(jc_pk, number(i)) for i in range(2))


def test_lines_are_valid_json_whatever_the_values_hold(city):
    odd = 'O\'Brien "老王" \\ 路\t1号'
    access.update(
        city["registry"], PersonRecord.objects.filter(id_number=number(0)), {"name": odd}, source="更正"
    )
    pk = subscribe(city["health_token"]).json()["id"]
    got = {line["key"]: line for line in lines(feed(city["health_token"], pk, after=0))}
    assert got[key(pk, number(0))]["data"]["name"] == odd and len(got) == 7


def test_a_move_made_by_a_bulk_load_leaves_a_tombstone_below_the_new_number(city):
    registry = city["registry"]
    loader.load(registry, [{**person(0, "339902"), "area_code": "339903001"}], source="迁移批次")
    stone = Tombstone.objects.get(key=number(0))
    record = PersonRecord.objects.get(id_number=number(0))
    assert (stone.area, stone.moved_to) == ("339902", "339903001") and stone.seq < record.seq


def test_grants_are_enforced_when_subscribing_and_on_every_batch(city):
    refused = subscribe(city["health_token"], resource="person-contact")
    assert refused.status_code == 403 and refused.json()["code"] == "no_grant"
    request = services.share_request_submit(
        acting_user=None,
        resource=city["contact"],
        consumer=city["health"],
        purpose="孕产妇随访",
        legal_basis="《母婴保健法》",
        fields=["id_number", "name"],
    )
    grant = services.share_request_answer(
        acting_user=None, share_request=request, approve=True, clear_fields=["id_number"]
    ).grant
    wider = subscribe(city["health_token"], resource="person-contact", fields=["name", "phone"])
    assert wider.status_code == 403 and wider.json()["code"] == "fields_not_granted"
    created = subscribe(city["health_token"], resource="person-contact")
    assert created.status_code == 201 and created.json()["fields"] == ["id_number", "name"]
    pk = created.json()["id"]
    got = lines(feed(city["health_token"], pk, after=0))
    assert got[0]["data"] == {"id_number": got[0]["key"], "name": got[0]["data"]["name"]}  # clear field
    services.grant_revoke(acting_user=None, grant=grant, reason="用途已完成")
    revoked = feed(city["health_token"], pk, after=0)
    assert revoked.status_code == 403 and revoked.json()["code"] == "grant_revoked"
    last = json.loads(LogEntry.objects.filter(kind="bulk").last().leaf)
    assert last["error"] == "grant_revoked" and last["subscription"] == pk


def test_refusals_not_offered_cancelled_and_someone_elses(city):
    api_only = subscribe(city["health_token"], resource="person-api-only")
    assert api_only.status_code == 409 and api_only.json()["code"] == "bulk_not_offered"
    no_purpose = subscribe(city["health_token"], purpose=" ")
    assert no_purpose.status_code == 400
    pk = subscribe(city["health_token"]).json()["id"]
    assert feed(city["jc_token"], pk).status_code == 404  # another client's subscription
    cancelled = Client().delete(f"{BASE}/subscriptions/{pk}", **city["health_token"])
    assert cancelled.status_code == 200 and cancelled.json()["cancelled_at"]
    gone = feed(city["health_token"], pk, after=0)
    assert gone.status_code == 410 and gone.json()["code"] == "subscription_cancelled"
    assert Client().get(f"{BASE}/subscriptions/{pk}/feed").status_code == 401
    listed = Client().get(f"{BASE}/subscriptions", **city["health_token"]).json()
    assert [s["id"] for s in listed] == [pk]


def forged(valid):
    return valid[:-1] + ("0" if valid[-1] != "0" else "1")  # the check character no longer matches


def push(headers, batch_ref, records):
    return Client().post(
        f"{BASE}/resources/person-basic/batches",
        {"batch_ref": batch_ref, "records": records},
        content_type="application/json",
        **headers,
    )


def test_a_district_pushes_once_and_a_replay_changes_nothing(city):
    pk = subscribe(city["health_token"]).json()["id"]
    _copy, cursor = mirror(city["health_token"], pk)
    records = [
        person(20, "339902"),
        {**person(21, "339902001"), "name": "居民二十一"},
        person(22, "339903"),  # a neighbour's resident: not this district's to send
        {**person(23, "339902"), "id_number": forged(number(23))},
    ]
    first = push(city["jc_police_token"], "jc-2026-11-21-001", records)
    assert first.status_code == 201, first.content
    body = first.json()
    assert (body["accepted"], body["rejected"], body["replayed"]) == (2, 2, False)
    assert [r["record"] for r in body["rejections"]] == [2, 3]
    state = (
        list(PersonRecord.objects.order_by("id_number").values_list("id_number", "seq")),
        RecordChange.objects.count(),
        LoadJob.objects.count(),
    )
    again = push(city["jc_police_token"], "jc-2026-11-21-001", records)
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["accepted"] == 2
    after = (
        list(PersonRecord.objects.order_by("id_number").values_list("id_number", "seq")),
        RecordChange.objects.count(),
        LoadJob.objects.count(),
    )
    assert after == state
    # The city receives what the district sent, through its own subscription.
    arrived = lines(feed(city["health_token"], pk, after=cursor))
    assert sorted(line["key"] for line in arrived) == sorted(
        [key(pk, number(20)), key(pk, number(21, "339902001"))]
    )


def test_only_the_owner_line_may_push_and_only_with_the_write_scope(city):
    refused = push(city["health_write_token"], "x-1", [person(30, "339902")])
    assert refused.status_code == 403 and refused.json()["code"] == "not_contributor"
    assert push(city["jc_token"], "x-2", [person(31, "339902")]).status_code == 401
    assert not PersonRecord.objects.filter(id_number__in=[number(30), number(31)]).exists()


@pytest.mark.parametrize(
    ("code", "prefix"),
    [
        ("339900", "3399"),
        ("339902", "339902"),
        ("330000", "33"),
        ("339902000", "339902"),
        ("339902001", "339902001"),
    ],
)
def test_area_prefix(code, prefix):
    assert area_prefix(code) == prefix


def test_subscription_counts_survive_in_the_database(city):
    pk = subscribe(city["health_token"]).json()["id"]
    mirror(city["health_token"], pk)
    stored = Subscription.objects.get(pk=pk)
    assert stored.delivered_seq >= stored.snapshot_seq > 0 and stored.last_delivery_at is not None


def officer(department):
    from tongban.identity.constants import StaffRoleName
    from tongban.identity.tests.factories import StaffFactory
    from tongban.testing import login_staff

    client = Client()
    login_staff(client, StaffFactory(roles=[(department, StaffRoleName.DATA_OFFICER)], totp=True))
    return client


def test_the_provider_sees_and_stops_a_subscription_another_department_cannot(city):
    from tongban.core.constants import AuditEventType
    from tongban.core.models import AuditEvent

    pk = subscribe(city["health_token"]).json()["id"]
    provider = officer(city["registry"].owner)
    stranger = officer(DepartmentFactory(code="ljs-jyj", name="临江市教育局"))
    page = provider.get("/staff/exchange/subscriptions/").content.decode()
    assert "妇幼健康服务对象名单" in page and "停止订阅" in page
    assert "妇幼健康服务对象名单" not in stranger.get("/staff/exchange/subscriptions/").content.decode()
    stranger.post(f"/staff/exchange/subscriptions/{pk}/")
    assert Subscription.objects.get(pk=pk).cancelled_at is None
    provider.post(f"/staff/exchange/subscriptions/{pk}/")
    assert Subscription.objects.get(pk=pk).cancelled_at is not None
    events = AuditEvent.objects.filter(extra_data__action="subscription_cancel")
    assert sorted(e.event_type for e in events) == sorted(
        [AuditEventType.DATA_SHARING, AuditEventType.PERMISSION_DENIED]
    )
    assert feed(city["health_token"], pk, after=0).status_code == 410


def test_the_data_tracker_lists_subscriptions_that_carry_the_persons_record(city):
    from tongban.identity.tests.factories import PersonFactory, UserFactory

    subscribe(city["jc_token"])  # 江城区: the resident below lives there
    subscribe(city["dh_token"], purpose="东湖区随访名单")  # 东湖区: does not carry this resident
    citizen = Client()
    citizen.force_login(UserFactory(person=PersonFactory(id_number=number(1), name="居民1")))
    page = citizen.get("/my/data-usage/").content.decode()
    assert "江城区卫健局" in page and "妇幼健康服务对象名单" in page
    assert "东湖区随访名单" not in page


def test_a_district_data_officer_subscribes_its_system_from_the_page(city):
    from tongban.core.models import AuditEvent
    from tongban.identity.models import SystemClient

    district = officer(city["jc_health"])
    system = SystemClient.objects.get(department=city["jc_health"])
    page = district.get("/staff/exchange/resources/person-basic/").content.decode()
    assert "建立订阅" in page and system.application.name in page
    refused = district.post(
        "/staff/exchange/resources/person-basic/subscribe/",
        {"client": system.pk, "purpose": "家庭医生签约", "down_to": "339903"},
        follow=True,
    )
    assert "区县部门只能订阅本辖区的数据" in refused.content.decode()
    assert not Subscription.objects.exists()
    district.post(
        "/staff/exchange/resources/person-basic/subscribe/",
        {"client": system.pk, "purpose": "家庭医生签约", "fields": ["id_number", "name"]},
    )
    made = Subscription.objects.get()
    assert (made.client, made.down_to, made.fields) == (system, "339902", ["id_number", "name"])
    assert AuditEvent.objects.filter(extra_data__action="subscription_create").count() == 1
    # Another department's officer cannot subscribe the district's system.
    other = officer(city["health"])
    other.post(
        "/staff/exchange/resources/person-basic/subscribe/",
        {"client": system.pk, "purpose": "x"},
    )
    assert Subscription.objects.count() == 1


def test_a_table_defined_by_a_schema_feeds_like_a_registry(city):
    """A department's own table (an operator-defined registry with a JSON schema) shared in bulk."""
    registry = Registry.objects.create(
        code="clinics",
        name="诊所登记表",
        kind=RegistryKind.CUSTOM,
        owner=city["health"],
        key_field="licence_no",
        schema={
            "type": "object",
            "properties": {
                "licence_no": {"type": "string"},
                "name": {"type": "string"},
                "phone": {"type": "string"},
                "area_code": {"type": "string"},
                "beds": {"type": "integer"},
            },
            "required": ["licence_no", "name"],
        },
    )
    for n, area in [(1, "339902"), (2, "339903"), (3, "339902001")]:
        access.create(
            registry,
            {
                "licence_no": f"PDY{n:05d}",
                "name": f"诊所{n}",
                "phone": f"0571-8800{n:04d}",
                "area_code": area,
                "beds": n,
            },
            source="登记",
        )
    services.resource_create(
        acting_user=None,
        registry=registry,
        code="clinics",
        name="诊所名录",
        share_type=ShareType.UNCONDITIONAL,
        fields=[
            ("licence_no", "许可证号", 1),
            ("name", "名称", 1),
            ("phone", "电话", 3),
            ("beds", "床位", 1),
        ],
        area_field="area_code",
        via_bulk=True,
    )
    pk = subscribe(city["jc_token"], resource="clinics").json()["id"]
    got = lines(feed(city["jc_token"], pk, after=0))
    assert [line["key"] for line in got] == ["PDY00001", "PDY00003"]  # 江城区 only, in change order
    assert got[0]["data"] == {
        "licence_no": "PDY00001",
        "name": "诊所1",
        "phone": mask("0571-88000001", 3),
        "beds": 1,
    }
    access.delete(registry, "PDY00003")
    # Nothing acknowledged yet: from 0 again, the deleted row is now only its tombstone.
    again = lines(feed(city["jc_token"], pk))
    assert [(line["op"], line["key"]) for line in again] == [("upsert", "PDY00001"), ("delete", "PDY00003")]
    after = max(line["seq"] for line in got)
    assert [(line["op"], line["key"]) for line in lines(feed(city["jc_token"], pk, after=after))] == [
        ("delete", "PDY00003")
    ]
