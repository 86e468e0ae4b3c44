"""Every write to the registries is a durable service with its audit record in the same transaction: a
write whose audit record cannot be written does not happen, a refused attempt is rolled back and still
leaves a failure record, and a service cannot be half-applied inside someone else's transaction."""

import pytest
from django.db import transaction
from django.test import Client

from tongban.core.constants import AuditEventType, AuditOutcome
from tongban.core.models import AuditEvent
from tongban.identity.models import Department, SystemClient
from tongban.identity.tests.factories import ROLE, StaffFactory
from tongban.registries import services
from tongban.registries.access import AccessError
from tongban.registries.models import (
    LoadJob,
    PersonRecord,
    QualityIssue,
    QualityRule,
    RecordChange,
    Registry,
    RuleKind,
)
from tongban.testing import login_staff
from tongban.testing import resident_number as number

from .conftest import BASE, post

pytestmark = pytest.mark.django_db


def events(event_type, outcome=AuditOutcome.SUCCESS):
    return list(AuditEvent.objects.filter(event_type=event_type, outcome=outcome).order_by("pk"))


class Broken(Exception):
    pass


@pytest.fixture
def audit_fails(monkeypatch):
    """The audit record of a successful write cannot be written (the trace of a refusal still can)."""
    real = services.audit_record

    def record(**kwargs):
        if kwargs.get("outcome", AuditOutcome.SUCCESS) == AuditOutcome.SUCCESS:
            raise Broken("audit store down")
        return real(**kwargs)

    monkeypatch.setattr(services, "audit_record", record)


def test_api_writes_are_audited_inside_their_transaction(world):
    new = {"id_number": number(20), "name": "新居民"}
    assert post("/data/population/1.0/create", {"write": {"content": new}}, world["owner"]).status_code == 200
    body = {"query": {"content": {"id_number": number(20)}}, "write": {"content": {"name": "改名"}}}
    assert post("/data/population/1.0/update", body, world["owner"], "put").status_code == 200
    upsert = {"query": {"content": {"id_number": number(21)}}, "write": {"content": {"name": "甲"}}}
    assert post("/data/population/1.0/update-or-create", upsert, world["owner"]).status_code == 200
    assert (
        Client().delete(f"{BASE}/data/population/1.0/{number(21)}/delete", **world["owner"]).status_code
        == 204
    )
    changed = events(AuditEventType.REGISTRY_CHANGED)
    assert [e.extra_data["action"] for e in changed] == ["create", "update", "create", "delete"]
    first = changed[0]
    assert first.extra_data["registry"] == "population" and first.department.code == "ljs-gaj"
    assert first.extra_data["mediator"] == "eGovStack/GOV/90000009/market-window"
    assert first.actor_label == SystemClient.objects.get(department__code="ljs-gaj").application.client_id
    # The key of a population record is an ID number: masked in the trail.
    assert first.extra_data["key"] == number(20)[:6] + "********" + number(20)[-4:]
    assert not any(number(20) in str(e.extra_data) for e in AuditEvent.objects.all())


def test_a_write_whose_audit_record_fails_does_not_happen(world, audit_fails):
    new = {"id_number": number(30), "name": "无痕写入"}
    with pytest.raises(Broken):
        post("/data/population/1.0/create", {"write": {"content": new}}, world["owner"])
    assert not PersonRecord.objects.filter(id_number=number(30)).exists()
    body = {"query": {"content": {"id_number": number(1)}}, "write": {"content": {"name": "无痕改名"}}}
    with pytest.raises(Broken):
        post("/data/population/1.0/update", body, world["owner"], "put")
    assert PersonRecord.objects.get(id_number=number(1)).name == "居民1"
    assert not RecordChange.objects.filter(key=number(1)).exists()  # nor its history
    with pytest.raises(Broken):
        Client().delete(f"{BASE}/data/population/1.0/{number(2)}/delete", **world["owner"])
    assert PersonRecord.objects.filter(id_number=number(2)).exists()


def test_refused_writes_are_rolled_back_and_audited(world):
    new = {"id_number": number(40), "name": "他人写入"}
    refused = post("/data/population/1.0/create", {"write": {"content": new}}, world["writer_elsewhere"])
    assert refused.status_code == 403 and refused.json()["detail"] == "只有主管部门的系统才能写入此库。"
    assert not PersonRecord.objects.filter(id_number=number(40)).exists()
    denied = events(AuditEventType.PERMISSION_DENIED, AuditOutcome.FAILURE)
    assert [(e.extra_data["action"], e.department.code, e.extra_data["status"]) for e in denied] == [
        ("create", "ljs-wjw", 403)
    ]
    gone = Client().delete(f"{BASE}/data/population/1.0/{number(1)}/delete", **world["writer_elsewhere"])
    assert gone.status_code == 403 and PersonRecord.objects.filter(id_number=number(1)).exists()
    # One record only through /update: more than one matched changes none of them.
    many = {"query": {"content": {"area_code": "339902"}}, "write": {"content": {"name": "同名"}}}
    wide = post("/data/population/1.0/update", many, world["owner"], "put")
    assert wide.status_code == 400 and wide.json()["detail"] == "查询条件匹配多条记录，请使用 updateEntries。"
    assert not PersonRecord.objects.filter(name="同名").exists()
    bad = {"query": {"content": {"id_number": number(1)}}, "write": {"content": {"area_code": "3399"}}}
    invalid = post("/data/population/1.0/update", bad, world["owner"], "put")
    assert invalid.status_code == 400 and "行政区划代码" in invalid.json()["detail"]
    missing = Client().delete(f"{BASE}/data/population/1.0/{number(99)}/delete", **world["owner"])
    assert missing.status_code == 404 and missing.json()["detail"] == "未找到记录。"
    failed = events(AuditEventType.REGISTRY_CHANGED, AuditOutcome.FAILURE)
    assert [(e.extra_data["action"], e.extra_data["status"]) for e in failed] == [
        ("update", 400),
        ("update", 400),
        ("delete", 404),
    ]
    assert not events(AuditEventType.REGISTRY_CHANGED)  # nothing succeeded


def test_services_are_durable(world):
    client = SystemClient.objects.get(department__code="ljs-gaj")
    with pytest.raises(RuntimeError), transaction.atomic():
        services.record_create(
            client=client,
            registry=world["registry"],
            content={"id_number": number(50), "name": "甲"},
            source="x",
        )


def test_registry_definitions_are_services(world):
    schema = {"type": "object", "properties": {"tag": {"type": "string"}}, "required": ["tag"]}
    made = post("/database/modify", {"code": "dogs", "schema": schema}, world["owner"])
    assert made.status_code == 200
    taken = post("/database/modify", {"code": "dogs", "schema": schema}, world["writer_elsewhere"])
    assert taken.status_code == 403 and taken.json()["detail"] == "只有主管部门才能修改此库的数据结构。"
    # A key that is not a property name is refused (it was a 500), and so is a code that is not a slug.
    odd = {"type": "object", "properties": {"tag": {}}, "x-key": {"a": 1}}
    refused = post("/database/modify", {"code": "cats", "schema": odd}, world["owner"])
    assert (
        refused.status_code == 400
        and refused.json()["detail"] == "数据结构需要主键字段：x-key，或第一个必填属性。"
    )
    slug = post("/database/modify", {"code": "猫 cats/../x", "schema": schema}, world["owner"])
    assert slug.status_code == 400 and not Registry.objects.filter(code__contains="cats").exists()
    dogs = Registry.objects.get(code="dogs")
    assert Client().delete(f"{BASE}/database/{dogs.pk}", **world["writer_elsewhere"]).status_code == 403
    assert Client().delete(f"{BASE}/database/{dogs.pk}", **world["owner"]).status_code == 200
    ok = events(AuditEventType.REGISTRY_CHANGED)
    assert [(e.extra_data["action"], e.extra_data.get("version")) for e in ok] == [
        ("define", "1.0"),
        ("delete_registry", "1.0"),
    ]
    assert ok[1].target_type == "registries.Registry" and ok[1].target_id == str(dogs.pk)
    denied = events(AuditEventType.PERMISSION_DENIED, AuditOutcome.FAILURE)
    assert [(e.extra_data["action"], e.extra_data["registry"]) for e in denied] == [
        ("define", "dogs"),
        ("delete_registry", "dogs"),
    ]
    assert [
        e.extra_data["registry"] for e in events(AuditEventType.REGISTRY_CHANGED, AuditOutcome.FAILURE)
    ] == [
        "cats",
        "猫 cats/../x",
    ]


def test_a_registry_delete_whose_audit_record_fails_does_not_happen(world, audit_fails):
    schema = {"type": "object", "properties": {"tag": {"type": "string"}}, "required": ["tag"]}
    client = SystemClient.objects.get(department__code="ljs-gaj")
    dogs = Registry.objects.create(
        code="dogs", name="犬", kind="custom", owner=world["registry"].owner, key_field="tag", schema=schema
    )
    with pytest.raises(Broken):
        services.registry_delete(client=client, registry=dogs)
    assert Registry.objects.filter(code="dogs").exists()


@pytest.fixture
def issues(world):
    registry = world["registry"]
    PersonRecord.objects.filter(id_number=number(3)).update(name="")
    rule = QualityRule.objects.create(
        registry=registry, code="name-present", name="姓名必填", kind=RuleKind.COMPLETENESS, field="name"
    )
    from tongban.registries import quality

    quality.run_checks(registry)
    owner = StaffFactory(roles=[(registry.owner, ROLE.DATA_OFFICER)], totp=True)
    other = StaffFactory(
        roles=[(Department.objects.get(code="ljs-wjw"), ROLE.DATA_OFFICER)],
        totp=True,
    )
    return QualityIssue.objects.get(rule=rule, record_key=number(3)), owner, other


def test_quality_issues_are_handled_through_audited_services(issues):
    issue, owner, other = issues
    outsider = Client()
    login_staff(outsider, other)
    page = f"/staff/registries/issues/{issue.pk}/"
    assert outsider.post(page, {"action": "explain", "reason": "不改"}).status_code == 404
    assert outsider.post(page, {"action": "recheck"}).status_code == 404
    issue.refresh_from_db()
    assert issue.status == QualityIssue.OPEN
    denied = events(AuditEventType.PERMISSION_DENIED, AuditOutcome.FAILURE)
    assert [(e.extra_data["action"], e.actor_id, e.target_id) for e in denied] == [
        ("explain", other.pk, str(issue.pk)),
        ("recheck", other.pk, str(issue.pk)),
    ]
    client = Client()
    login_staff(client, owner)
    empty = client.post(page, {"action": "explain", "reason": " "}, follow=True)
    assert "请填写不予纠正的理由。" in empty.content.decode()
    failed = client.post(page, {"action": "recheck"}, follow=True)
    assert "复核未通过" in failed.content.decode()
    PersonRecord.objects.filter(id_number=number(3)).update(name="已补全")
    passed = client.post(page, {"action": "recheck", "next": "https://evil.example/"})
    assert passed.status_code == 302 and passed["Location"] == "/staff/registries/issues/"  # not elsewhere
    issue.refresh_from_db()
    assert issue.status == QualityIssue.RESOLVED and issue.handled_by == owner
    handled = events(AuditEventType.QUALITY_ISSUE_HANDLED)
    assert [(e.extra_data["action"], e.extra_data["resolved"]) for e in handled] == [
        ("recheck", False),
        ("recheck", True),
    ]
    assert [
        e.extra_data["action"] for e in events(AuditEventType.QUALITY_ISSUE_HANDLED, AuditOutcome.FAILURE)
    ] == ["explain"]
    # Explaining what is already resolved is refused.
    again = client.post(page, {"action": "explain", "reason": "历史档案"}, follow=True)
    assert "该问题已处理，不能再说明。" in again.content.decode()


def test_an_explanation_whose_audit_record_fails_is_not_kept(issues, audit_fails):
    issue, owner, _other = issues
    with pytest.raises(Broken):
        services.quality_issue_explain(acting_user=owner, issue=issue, reason="历史档案原样保存")
    issue.refresh_from_db()
    assert issue.status == QualityIssue.OPEN and issue.explanation == ""


def test_loads_are_audited_at_start_and_end(world):
    officer = StaffFactory(roles=[(world["registry"].owner, ROLE.DATA_OFFICER)])
    rows = [{"id_number": number(60 + i), "name": f"新{i}"} for i in range(5)] + [
        {"id_number": "1", "name": "坏"}
    ]
    report = services.registry_load(
        acting_user=officer, registry=world["registry"], rows=rows, source="户籍系统", batch_size=2
    )
    assert (report.accepted, report.rejected) == (5, 1)
    loaded = [e for e in events(AuditEventType.REGISTRY_LOADED) if e.actor_id == officer.pk]
    assert [(e.extra_data["action"], e.extra_data.get("accepted")) for e in loaded] == [
        ("load_start", None),
        ("load", 5),
    ]
    assert loaded[1].target_id == str(report.job.pk) and loaded[1].extra_data["rejected"] == 1
    stranger = StaffFactory(roles=[(Department.objects.get(code="ljs-wjw"), ROLE.DATA_OFFICER)])
    with pytest.raises(AccessError) as refused:
        services.registry_load(acting_user=stranger, registry=world["registry"], rows=rows, source="x")
    assert refused.value.status == 403 and refused.value.message == "您不是该库主管部门的数据管理员。"
    assert not LoadJob.objects.filter(started_by=stranger).exists()
    assert events(AuditEventType.PERMISSION_DENIED, AuditOutcome.FAILURE)[-1].actor_id == stranger.pk


def test_a_load_that_breaks_off_leaves_a_failure_record_and_resumes(world):
    from tongban.registries import loader

    officer = StaffFactory(roles=[(world["registry"].owner, ROLE.DATA_OFFICER)])
    rows = [{"id_number": number(70 + i), "name": f"新{i}"} for i in range(6)]

    def source():
        yield from rows[:4]
        raise OSError("connection reset")

    with pytest.raises(OSError):
        services.registry_load(
            acting_user=officer, registry=world["registry"], rows=source(), source="s", batch_size=2
        )
    job = LoadJob.objects.get(started_by=officer)
    assert job.status == LoadJob.RUNNING and job.batches_done == 2
    failed = events(AuditEventType.REGISTRY_LOADED, AuditOutcome.FAILURE)
    assert [(e.extra_data["batches_done"], e.extra_data["reason"]) for e in failed] == [
        (2, "OSError: connection reset")
    ]
    assert [e.extra_data["action"] for e in events(AuditEventType.REGISTRY_LOADED)] == ["load_start"]
    ended = []
    loader.resume(job, rows, finished=ended.append)
    assert ended == [job] and LoadJob.objects.get(pk=job.pk).status == LoadJob.DONE
    assert PersonRecord.objects.filter(id_number__in=[r["id_number"] for r in rows]).count() == 6


def test_the_load_page_goes_through_the_service(world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    officer = StaffFactory(roles=[(world["registry"].owner, ROLE.DATA_OFFICER)], totp=True)
    client = Client()
    login_staff(client, officer)
    text = f"id_number,name\n{number(80)},新居民\n".encode()
    response = client.post(
        "/staff/registries/load/",
        {"registry": world["registry"].pk, "file": SimpleUploadedFile("a.csv", text), "mapping": ""},
    )
    assert response.status_code == 200 and PersonRecord.objects.filter(id_number=number(80)).exists()
    assert [
        e.extra_data["action"] for e in events(AuditEventType.REGISTRY_LOADED) if e.actor_id == officer.pk
    ] == [
        "load_start",
        "load",
    ]
