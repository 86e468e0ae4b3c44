import pytest

from tongban.catalog import services
from tongban.catalog.constants import VersionStatus
from tongban.catalog.models import LifeEvent, SearchDocument, ServiceItem, ServiceItemVersion
from tongban.catalog.validation import CatalogError
from tongban.core.constants import AuditEventType
from tongban.core.models import AuditEvent
from tongban.identity.errors import NotPermitted
from tongban.identity.tests.factories import ROLE, DepartmentFactory, StaffFactory

from .factories import content, published_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def dept():
    return DepartmentFactory(code="ljs-test")


@pytest.fixture
def editor(dept):
    return StaffFactory(roles=[(dept, ROLE.DEPARTMENT_ADMIN)])


@pytest.fixture
def publisher(dept):
    return StaffFactory(roles=[(dept, ROLE.PLATFORM_ADMIN)])


def test_item_lifecycle_draft_review_publish(dept, editor, publisher):
    version = services.item_create(
        acting_user=editor, department=dept, basic_code="010000100000", content=content(name="食品经营许可")
    )
    item = version.item
    assert item.implementation_code == dept.uscc + "010000100000"
    assert version.status == VersionStatus.DRAFT and item.published_version is None
    services.version_submit(acting_user=editor, version=version)
    with pytest.raises(NotPermitted):  # department admins edit; the platform (政务办) publishes
        services.version_publish(acting_user=editor, version=version)
    services.version_publish(acting_user=publisher, version=version)
    item.refresh_from_db()
    assert item.published_version_id == version.pk
    assert SearchDocument.objects.filter(kind="item", object_id=item.pk, title="食品经营许可").exists()
    actions = list(
        AuditEvent.objects.filter(event_type=AuditEventType.CATALOG_CHANGED, outcome="success")
        .order_by("id")
        .values_list("extra_data__action", flat=True)
    )
    assert actions == ["create", "draft->review", "publish"]


def test_published_version_never_changes_and_new_version_supersedes_it(dept, editor, publisher):
    v1 = published_item(dept, name="旧名称")
    with pytest.raises(CatalogError) as err:
        services.version_update(acting_user=editor, version=v1, content=content(name="改名"))
    assert "草稿" in err.value.message
    v2 = services.version_new_draft(acting_user=editor, item=v1.item)
    assert v2.number == 2 and v2.status == VersionStatus.DRAFT
    services.version_update(acting_user=editor, version=v2, content=content(name="新名称"))
    services.version_submit(acting_user=editor, version=v2)
    services.version_publish(acting_user=publisher, version=v2)
    v1.refresh_from_db()
    assert v1.status == VersionStatus.SUPERSEDED and v1.name == "旧名称"  # still readable for old cases
    assert ServiceItem.objects.get(pk=v1.item_id).published_version.name == "新名称"
    assert SearchDocument.objects.get(object_id=v1.item_id).title == "新名称"


def test_nobody_approves_their_own_version(dept, publisher):
    version = services.item_create(
        acting_user=publisher, department=dept, basic_code="010000900000", content=content()
    )
    services.version_submit(acting_user=publisher, version=version)
    with pytest.raises(CatalogError) as err:
        services.version_publish(acting_user=publisher, version=version)
    assert "同一人" in err.value.message


def test_rejection_needs_a_reason_and_returns_to_draft(dept, editor, publisher):
    version = services.item_create(
        acting_user=editor, department=dept, basic_code="010000200000", content=content()
    )
    services.version_submit(acting_user=editor, version=version)
    with pytest.raises(CatalogError):
        services.version_reject(acting_user=publisher, version=version, comment=" ")
    services.version_reject(acting_user=publisher, version=version, comment="设定依据不完整")
    version.refresh_from_db()
    assert version.status == VersionStatus.DRAFT and version.review_comment == "设定依据不完整"


def test_stale_transition_is_refused(dept, editor):
    version = services.item_create(
        acting_user=editor, department=dept, basic_code="010000300000", content=content()
    )
    stale = ServiceItemVersion.objects.get(pk=version.pk)
    services.version_submit(acting_user=editor, version=version)
    with pytest.raises(CatalogError) as err:
        services.version_submit(acting_user=editor, version=stale)
    assert "状态已变化" in err.value.message


def test_withdraw_removes_from_public_and_search(dept, publisher):
    version = published_item(dept)
    services.item_withdraw(acting_user=publisher, item=version.item, reason="法律依据废止")
    version.refresh_from_db()
    assert version.status == VersionStatus.WITHDRAWN
    assert not SearchDocument.objects.filter(object_id=version.item_id).exists()


def test_permissions_per_department(dept, editor):
    other = DepartmentFactory()
    with pytest.raises(NotPermitted):
        services.item_create(
            acting_user=editor, department=other, basic_code="010000400000", content=content()
        )
    clerk = StaffFactory(roles=[(dept, ROLE.INTAKE_CLERK)])
    with pytest.raises(NotPermitted):
        services.item_create(acting_user=clerk, department=dept, basic_code="010000400000", content=content())
    version = services.item_create(
        acting_user=editor, department=dept, basic_code="010000400000", content=content()
    )
    services.version_submit(acting_user=editor, version=version)
    with pytest.raises(NotPermitted):  # department admins edit; the platform (政务办) publishes
        services.version_publish(
            acting_user=StaffFactory(roles=[(dept, ROLE.DEPARTMENT_ADMIN)]), version=version
        )


@pytest.mark.parametrize(
    ("fields", "field_named"),
    [
        (
            {"form_schema": {"type": "object", "properties": {"x": {"type": "strin", "title": "X"}}}},
            "form_schema",
        ),
        ({"form_schema": {"type": "object", "properties": {"x": {"type": "string"}}}}, "form_schema.x"),
        (
            {
                "form_schema": {
                    "type": "object",
                    "properties": {"x": {"type": "string", "title": "X", "x-prefill": "bank.password"}},
                }
            },
            "form_schema.x",
        ),
        (
            {
                "workflow": {
                    "steps": [
                        {"key": "a", "kind": "accept", "role": "intake_clerk", "department": "ljs-nope"},
                        {"key": "d", "kind": "decide", "role": "approver", "after": ["a"]},
                    ]
                }
            },
            "workflow.a",
        ),
        (
            {
                "workflow": {
                    "steps": [
                        {"key": "a", "kind": "accept", "role": "cashier"},
                        {"key": "d", "kind": "decide", "role": "approver", "after": ["a"]},
                    ]
                }
            },
            "workflow.a",
        ),
        (
            {
                "workflow": {
                    "steps": [
                        {"key": "a", "kind": "accept", "role": "intake_clerk", "after": ["d"]},
                        {"key": "d", "kind": "decide", "role": "approver", "after": ["a"]},
                    ]
                }
            },
            "workflow",
        ),
        (
            {
                "form_schema": {
                    "type": "object",
                    "properties": {"x": {"type": "string", "title": "X", "x-widget": "slider"}},
                }
            },
            "form_schema.x",
        ),
        (
            {
                "form_schema": {
                    "type": "object",
                    "x-order": ["y"],
                    "properties": {"x": {"type": "string", "title": "X"}},
                }
            },
            "form_schema.x-order",
        ),
        ({"committed_days": 30, "statutory_days": 20}, "committed_days"),
        ({"legal_basis": ""}, "legal_basis"),
    ],
)
def test_invalid_content_is_refused_naming_item_and_field_and_nothing_is_saved(
    dept, editor, fields, field_named
):
    with pytest.raises(CatalogError) as err:
        services.item_create(
            acting_user=editor,
            department=dept,
            basic_code="010000500000",
            content=content(name="有问题的事项", **fields),
        )
    assert err.value.subject == "有问题的事项"
    assert field_named in [p.field for p in err.value.problems]
    assert "有问题的事项" in err.value.message
    assert not ServiceItem.objects.exists()


def test_parallel_workflow_references_real_departments(dept, editor):
    DepartmentFactory(code="ljs-xfzd")
    from tongban.catalog.demo_fields import parallel

    version = services.item_create(
        acting_user=editor,
        department=dept,
        basic_code="010000600000",
        content=content(workflow=parallel(("ljs-xfzd", "消防"))),
    )
    steps = {s["key"]: s for s in version.workflow["steps"]}
    assert steps["decide"]["after"] == ["review", "review_xfzd"]


def test_bad_basic_code(dept, editor):
    for code, words in [("0100001", "12位"), ("990000100000", "事项类型"), ("010000000000", "主项")]:
        with pytest.raises(CatalogError) as err:
            services.item_create(acting_user=editor, department=dept, basic_code=code, content=content())
        assert words in err.value.message


def test_material_condition_must_use_form_fields(dept, editor):
    material = {
        "code": "m",
        "name": "材料",
        "condition": {"field": "nope", "op": "truthy"},
        "formats": ["pdf"],
    }
    c = content()
    c.materials = [material]
    with pytest.raises(CatalogError) as err:
        services.item_create(acting_user=editor, department=dept, basic_code="010000700000", content=c)
    assert "nope" in err.value.message


# ---- bundles ------------------------------------------------------------------------------------------


def _bundle(items, questions=None, maps=None, conditions=None):
    entries = [
        services.LifeEventEntry(
            implementation_code=v.item.implementation_code,
            field_map=(maps or {}).get(i, {}),
            condition=(conditions or {}).get(i),
        )
        for i, v in enumerate(items)
    ]
    return services.life_event_save(
        acting_user=None,
        code="bundle",
        name="测试一件事",
        audience="person",
        summary="",
        entries=entries,
        questions=questions,
    )


def test_merged_form_asks_shared_fields_once_and_maps_back(dept):
    from tongban.catalog.demo_fields import FIELDS, PERSON

    a = published_item(
        dept,
        name="甲",
        form_schema={
            "type": "object",
            "required": [*PERSON, "baby_name"],
            "properties": {**{k: FIELDS[k] for k in PERSON}, "baby_name": FIELDS["baby_name"]},
        },
    )
    b = published_item(
        dept,
        name="乙",
        form_schema={
            "type": "object",
            "required": ["child_name"],
            "properties": {**{k: FIELDS[k] for k in PERSON}, "child_name": FIELDS["baby_name"]},
        },
    )
    event = _bundle([a, b], maps={1: {"child_name": "baby_name"}})
    merged = services.merged_form(event)
    assert set(merged.schema["properties"]) == {*PERSON, "baby_name"}
    assert merged.sources["baby_name"] == [
        (a.item.implementation_code, "baby_name"),
        (b.item.implementation_code, "child_name"),
    ]
    assert "baby_name" in merged.schema["required"]
    services.life_event_publish(acting_user=None, life_event=event)
    assert LifeEvent.objects.get(pk=event.pk).status == VersionStatus.PUBLISHED


def test_conflicting_field_types_are_refused_naming_item_and_field(dept):
    a = published_item(
        dept,
        name="甲",
        form_schema={"type": "object", "properties": {"weight": {"type": "integer", "title": "体重"}}},
    )
    b = published_item(
        dept,
        name="乙",
        form_schema={"type": "object", "properties": {"weight": {"type": "string", "title": "体重"}}},
    )
    event = _bundle([a, b])
    with pytest.raises(CatalogError) as err:
        services.life_event_publish(acting_user=None, life_event=event)
    assert "乙" in err.value.message and "weight" in err.value.message
    assert LifeEvent.objects.get(pk=event.pk).status == VersionStatus.DRAFT


def test_conditional_inclusion_and_deduplicated_materials(dept):
    shared = {
        "code": "id",
        "name": "居民身份证",
        "licence_type_code": "110000000000000000011",
        "formats": ["pdf"],
    }
    c1, c2 = content(name="甲"), content(name="乙")
    c1.materials = [shared]
    c2.materials = [dict(shared, name="申请人居民身份证")]
    v1 = services.item_create(acting_user=None, department=dept, basic_code="010001000000", content=c1)
    v2 = services.item_create(acting_user=None, department=dept, basic_code="010001100000", content=c2)
    from django.db import transaction

    for v in (v1, v2):
        with transaction.atomic():
            services.publish_in_transaction(acting_user=None, version=v, require_review=False)
    questions = {"type": "object", "properties": {"wants": {"type": "boolean", "title": "是否需要乙"}}}
    event = _bundle([v1, v2], questions=questions, conditions={1: {"field": "wants", "op": "truthy"}})
    assert [v.name for v in services.merged_form(event, {"wants": False}).items] == ["甲"]
    merged = services.merged_form(event, {"wants": True})
    assert [v.name for v in merged.items] == ["甲", "乙"]
    assert len(merged.materials) == 1 and merged.materials[0]["items"] == ["甲", "乙"]
    assert "wants" in merged.schema["properties"]


def test_bundle_condition_must_use_defined_questions(dept):
    v = published_item(dept)
    with pytest.raises(CatalogError) as err:
        _bundle([v], conditions={0: {"field": "undefined_q", "op": "truthy"}})
    assert "undefined_q" in err.value.message
    assert not LifeEvent.objects.exists()


def test_layout_hints_are_accepted(dept, editor):
    form = {
        "type": "object",
        "x-order": ["address", "name"],
        "properties": {
            "name": {"type": "string", "title": "姓名", "x-group": "申请人", "x-widget": "text"},
            "address": {"type": "string", "title": "地址", "x-widget": "address", "x-help": "填写到门牌号"},
        },
    }
    version = services.item_create(
        acting_user=editor, department=dept, basic_code="010001900000", content=content(form_schema=form)
    )
    assert version.form_schema["x-order"] == ["address", "name"]
