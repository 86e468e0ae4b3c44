"""Catalogue writes: items and their versions (draft → review → published → superseded/withdrawn),
bundles (一件事) with their merged form. Every write is validated whole, audited, and all-or-nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from tongban.core import conditions
from tongban.core.constants import AuditEventType
from tongban.core.services import audit_record
from tongban.identity.models import Department, User
from tongban.identity.permissions import Perm
from tongban.identity.services import require_perm

from . import search
from .constants import VersionStatus
from .models import LifeEvent, LifeEventItem, Material, ServiceItem, ServiceItemVersion, Theme
from .validation import (
    CatalogError,
    Problem,
    check_basic_code,
    check_form_schema,
    check_implementation_code,
    check_materials,
    check_rules,
    check_version_fields,
    check_workflow,
    implementation_code,
)

VERSION_FIELDS = (
    "name",
    "item_type",
    "summary",
    "applicant_types",
    "legal_basis",
    "conditions",
    "statutory_days",
    "committed_days",
    "fee_free",
    "fee_description",
    "channels",
    "online_depth",
    "max_visits",
    "result_name",
    "result_licence_type",
    "form_schema",
    "workflow",
    "decision_rules",
    "keywords",
    "contact",
)
MATERIAL_FIELDS = (
    "code",
    "name",
    "form",
    "copies",
    "required",
    "condition",
    "condition_label",
    "formats",
    "max_size_mb",
    "licence_type_code",
    "shared_resource_code",
    "notes",
)


@dataclass
class ItemContent:
    """Everything an editor, an API client or an import file gives for one version."""

    fields: dict[str, Any]
    materials: list[dict[str, Any]] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)


def _known_department_codes() -> set[str]:
    return set(Department.objects.filter(is_active=True).values_list("code", flat=True))


def validate_content(
    content: ItemContent, *, subject: str, departments: set[str] | None = None, themes: set[str] | None = None
) -> None:
    """Raise CatalogError listing every problem. ``departments`` / ``themes``: the known codes, when the
    caller (the importer) already has them."""
    data = content.fields
    problems = check_version_fields(data)
    problems += check_form_schema(data.get("form_schema"))
    problems += check_workflow(
        data.get("workflow"), known_departments=departments or _known_department_codes()
    )
    form_fields = set(((data.get("form_schema") or {}).get("properties") or {}).keys())
    problems += check_rules(data.get("decision_rules") or [], form_fields)
    schema = data.get("form_schema") if isinstance(data.get("form_schema"), Mapping) else {}
    problems += check_materials(content.materials, set((schema.get("properties") or {}).keys()))
    unknown_fields = set(data) - set(VERSION_FIELDS)
    if unknown_fields:
        problems.append(Problem(", ".join(sorted(unknown_fields)), _("未知字段。")))
    known_themes = (
        themes
        if themes is not None
        else set(Theme.objects.filter(code__in=content.themes).values_list("code", flat=True))
    )
    for missing in sorted(set(content.themes) - known_themes):
        problems.append(Problem("themes", _("主题不存在：%(t)s") % {"t": missing}))
    if problems:
        raise CatalogError(subject, problems)


def write_content(version: ServiceItemVersion, content: ItemContent) -> None:
    """Store a version's content (the caller validated it and holds the transaction)."""
    for name in VERSION_FIELDS:
        if name in content.fields:
            setattr(version, name, content.fields[name])
    is_new = version.pk is None
    # Field checks only: the rules behind the constraints were validated before, and the database enforces them.
    version.full_clean(exclude=["item", "themes"], validate_unique=False, validate_constraints=False)
    version.save()
    if not is_new:
        version.materials.all().delete()
    Material.objects.bulk_create(
        [
            Material(version=version, position=i, **{k: m[k] for k in MATERIAL_FIELDS if k in m})
            for i, m in enumerate(content.materials)
        ]
    )
    version.themes.set(Theme.objects.filter(code__in=content.themes))


def item_create(
    *,
    acting_user: User | None,
    department: Department,
    basic_code: str,
    content: ItemContent,
    request: HttpRequest | None = None,
) -> ServiceItemVersion:
    """A new item with its first draft. ``acting_user`` None only for imports and set-up commands."""
    if acting_user is not None:
        require_perm(acting_user, Perm.CATALOG_EDIT, department, request=request, action="item_create")
    subject = content.fields.get("name") or basic_code
    code = implementation_code(department.uscc, basic_code)
    problems = check_basic_code(basic_code) + check_implementation_code(
        code, department_uscc=department.uscc, basic_code=basic_code
    )
    if problems:
        raise CatalogError(subject, problems)
    validate_content(content, subject=subject)
    with transaction.atomic(durable=True):
        if ServiceItem.objects.filter(implementation_code=code).exists():
            raise CatalogError(
                subject,
                [Problem("basic_code", _("该部门已有此基本编码的事项（实施编码 %(c)s）。") % {"c": code})],
            )
        item = ServiceItem.objects.create(
            basic_code=basic_code, implementation_code=code, department=department
        )
        version = ServiceItemVersion(item=item, number=1, created_by=acting_user)
        write_content(version, content)
        audit_record(
            event_type=AuditEventType.CATALOG_CHANGED,
            acting_user=acting_user,
            request=request,
            target=version,
            department=department,
            extra_data={"action": "create", "code": code},
        )
    return version


def version_update(
    *,
    acting_user: User,
    version: ServiceItemVersion,
    content: ItemContent,
    request: HttpRequest | None = None,
) -> ServiceItemVersion:
    require_perm(
        acting_user, Perm.CATALOG_EDIT, version.item.department, request=request, action="version_update"
    )
    with transaction.atomic(durable=True):
        version = (
            ServiceItemVersion.objects.select_for_update()
            .select_related("item__department")
            .get(pk=version.pk)
        )
        if not version.is_editable:
            raise CatalogError(
                version.name, [Problem("status", _("只有草稿可以修改；已发布的版本请新建草稿。"))]
            )
        validate_content(content, subject=content.fields.get("name") or version.name)
        write_content(version, content)
        audit_record(
            event_type=AuditEventType.CATALOG_CHANGED,
            acting_user=acting_user,
            request=request,
            target=version,
            department=version.item.department,
            extra_data={"action": "update"},
        )
    return version


def version_new_draft(
    *, acting_user: User, item: ServiceItem, request: HttpRequest | None = None
) -> ServiceItemVersion:
    """Start the next version as a copy of the latest one."""
    require_perm(acting_user, Perm.CATALOG_EDIT, item.department, request=request, action="version_new_draft")
    with transaction.atomic(durable=True):
        item = ServiceItem.objects.select_for_update().get(pk=item.pk)
        latest = item.versions.order_by("-number").first()
        if latest.status in (VersionStatus.DRAFT, VersionStatus.REVIEW):
            raise CatalogError(latest.name, [Problem("status", _("已有未发布的草稿或待审核版本。"))])
        content = content_of(latest)
        draft = ServiceItemVersion(item=item, number=latest.number + 1, created_by=acting_user)
        write_content(draft, content)
        audit_record(
            event_type=AuditEventType.CATALOG_CHANGED,
            acting_user=acting_user,
            request=request,
            target=draft,
            department=item.department,
            extra_data={"action": "new_draft", "from": latest.number},
        )
    return draft


def content_of(version: ServiceItemVersion) -> ItemContent:
    return ItemContent(
        fields={name: getattr(version, name) for name in VERSION_FIELDS},
        materials=[{k: getattr(m, k) for k in MATERIAL_FIELDS} for m in version.materials.all()],
        themes=sorted(version.themes.values_list("code", flat=True)),
    )


def version_submit(
    *, acting_user: User, version: ServiceItemVersion, request: HttpRequest | None = None
) -> None:
    require_perm(
        acting_user, Perm.CATALOG_EDIT, version.item.department, request=request, action="version_submit"
    )
    _transition(
        version, VersionStatus.DRAFT, VersionStatus.REVIEW, acting_user, request, submitted_at=timezone.now()
    )


def version_reject(
    *, acting_user: User, version: ServiceItemVersion, comment: str, request: HttpRequest | None = None
) -> None:
    require_perm(
        acting_user, Perm.CATALOG_PUBLISH, version.item.department, request=request, action="version_reject"
    )
    if not comment.strip():
        raise CatalogError(version.name, [Problem("comment", _("退回时请写明原因。"))])
    _transition(
        version,
        VersionStatus.REVIEW,
        VersionStatus.DRAFT,
        acting_user,
        request,
        reviewed_by=acting_user,
        review_comment=comment.strip(),
    )


def version_publish(
    *, acting_user: User | None, version: ServiceItemVersion, request: HttpRequest | None = None
) -> None:
    """Approve a version under review: it becomes the public one; the previous one is superseded but kept
    for the applications that used it. ``acting_user`` None only for imports and set-up commands."""
    if acting_user is not None:
        require_perm(
            acting_user,
            Perm.CATALOG_PUBLISH,
            version.item.department,
            request=request,
            action="version_publish",
        )
        if version.created_by_id == acting_user.pk:
            raise CatalogError(version.name, [Problem("status", _("同一人不能既编辑又审核发布同一版本。"))])
    with transaction.atomic(durable=True):
        publish_in_transaction(acting_user=acting_user, version=version, request=request)


def publish_in_transaction(
    *,
    acting_user: User | None,
    version: ServiceItemVersion,
    request: HttpRequest | None = None,
    require_review: bool = True,
) -> None:
    """The body of version_publish, for callers that own the transaction (the importer, set-up code):
    ``require_review=False`` publishes a draft straight away."""
    version = (
        ServiceItemVersion.objects.select_for_update()
        .select_related("item__department__area")
        .get(pk=version.pk)
    )
    expected = VersionStatus.REVIEW if require_review else version.status
    if version.status != expected or version.status not in (VersionStatus.REVIEW, VersionStatus.DRAFT):
        raise CatalogError(version.name, [Problem("status", _("只有待审核的版本可以发布。"))])
    item = ServiceItem.objects.select_for_update().get(pk=version.item_id)
    now = timezone.now()
    item.versions.filter(status=VersionStatus.PUBLISHED).update(
        status=VersionStatus.SUPERSEDED, retired_at=now
    )
    version.status = VersionStatus.PUBLISHED
    version.published_at = now
    version.reviewed_by = acting_user
    version.save(update_fields=["status", "published_at", "reviewed_by"])
    item.published_version = version
    item.save(update_fields=["published_version"])
    search.index_item(item, version)
    audit_record(
        event_type=AuditEventType.CATALOG_CHANGED,
        acting_user=acting_user,
        request=request,
        target=version,
        department=item.department,
        extra_data={"action": "publish", "number": version.number},
    )


def item_withdraw(
    *, acting_user: User, item: ServiceItem, reason: str, request: HttpRequest | None = None
) -> None:
    require_perm(acting_user, Perm.CATALOG_PUBLISH, item.department, request=request, action="item_withdraw")
    if not reason.strip():
        raise CatalogError(str(item), [Problem("reason", _("撤销事项时请写明原因。"))])
    with transaction.atomic(durable=True):
        item = ServiceItem.objects.select_for_update().get(pk=item.pk)
        current = item.versions.filter(status=VersionStatus.PUBLISHED).first()
        if current is None:
            raise CatalogError(str(item), [Problem("status", _("该事项没有已发布的版本。"))])
        current.status = VersionStatus.WITHDRAWN
        current.retired_at = timezone.now()
        current.save(update_fields=["status", "retired_at"])
        item.published_version = None
        item.save(update_fields=["published_version"])
        search.unindex_item(item)
        audit_record(
            event_type=AuditEventType.CATALOG_CHANGED,
            acting_user=acting_user,
            request=request,
            target=current,
            department=item.department,
            extra_data={"action": "withdraw", "reason": reason.strip()},
        )


def _transition(version, source, target, acting_user, request, **changes) -> None:
    with transaction.atomic(durable=True):
        locked = (
            ServiceItemVersion.objects.select_for_update()
            .select_related("item__department")
            .get(pk=version.pk)
        )
        if locked.status != source:
            raise CatalogError(
                locked.name,
                [
                    Problem(
                        "status",
                        _("版本状态已变化（当前：%(s)s），请刷新后重试。")
                        % {"s": locked.get_status_display()},
                    )
                ],
            )
        locked.status = target
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.save(update_fields=["status", *changes])
        audit_record(
            event_type=AuditEventType.CATALOG_CHANGED,
            acting_user=acting_user,
            request=request,
            target=locked,
            department=locked.item.department,
            extra_data={"action": f"{source}->{target}", "comment": changes.get("review_comment", "")},
        )


# ---- bundles (一件事) -------------------------------------------------------------------------------


@dataclass
class MergedForm:
    schema: dict[str, Any]
    # merged field -> [(implementation code, field in that item's form)]
    sources: dict[str, list[tuple[str, str]]]
    materials: list[dict[str, Any]]
    items: list[ServiceItemVersion]


def merged_form(life_event: LifeEvent, answers: Mapping[str, Any] | None = None) -> MergedForm:
    """One form for the bundle: every field asked once, mapped back to each item. With ``answers``, only
    the items whose inclusion condition holds. Raises CatalogError on conflicting field definitions."""
    entries = list(
        LifeEventItem.objects.filter(life_event=life_event)
        .select_related("item__published_version", "item__department")
        # The materials of every item at once: the merged list below and each item's needs at submission.
        .prefetch_related("item__published_version__materials")
        .order_by("position", "id")
    )
    properties: dict[str, dict[str, Any]] = dict((life_event.questions or {}).get("properties", {}))
    sources: dict[str, list[tuple[str, str]]] = {name: [] for name in properties}
    required: set[str] = set()
    problems: list[Problem] = []
    included: list[ServiceItemVersion] = []
    materials: dict[str, dict[str, Any]] = {}
    for entry in entries:
        version = entry.item.published_version
        if version is None:
            problems.append(Problem(entry.item.implementation_code, _("包含的事项尚未发布。")))
            continue
        if answers is not None and not conditions.evaluate(entry.condition, answers):
            continue
        included.append(version)
        schema = version.form_schema
        for item_field, prop in schema.get("properties", {}).items():
            merged = entry.field_map.get(item_field, item_field)
            if merged in properties:
                clash = _field_conflict(properties[merged], prop)
                if clash:
                    problems.append(
                        Problem(
                            merged,
                            _("“%(item)s”的字段 %(field)s 与其他事项定义不一致（%(what)s）。")
                            % {"item": version.name, "field": item_field, "what": clash},
                        )
                    )
                    continue
            else:
                properties[merged] = dict(prop)
            sources.setdefault(merged, []).append((entry.item.implementation_code, item_field))
            if item_field in schema.get("required", []):
                required.add(merged)
        for material in version.materials.all():
            key = material.licence_type_code or material.shared_resource_code or material.name
            if key not in materials:
                materials[key] = {
                    "code": material.code,
                    "formats": material.formats,
                    "max_size_mb": material.max_size_mb,
                    "name": material.name,
                    "required": material.required,
                    "items": [version.name],
                    "exempt": material.exempt_by_sharing,
                    "condition_label": material.condition_label,
                }
            else:
                materials[key]["items"].append(version.name)
                materials[key]["required"] = materials[key]["required"] or material.required
    if problems:
        raise CatalogError(life_event.name, problems)
    schema = {"type": "object", "properties": properties, "required": sorted(required)}
    return MergedForm(schema=schema, sources=sources, materials=list(materials.values()), items=included)


def _field_conflict(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    for key in ("type", "format", "enum", "x-sex"):
        if a.get(key) != b.get(key):
            return f"{key}: {a.get(key)} ≠ {b.get(key)}"
    return None


@dataclass
class LifeEventEntry:
    implementation_code: str
    condition: dict[str, Any] | None = None
    condition_label: str = ""
    field_map: dict[str, str] = field(default_factory=dict)


def life_event_save(
    *,
    acting_user: User | None,
    code: str,
    name: str,
    audience: str,
    summary: str,
    entries: list[LifeEventEntry],
    questions: dict[str, Any] | None = None,
    themes: list[str] | None = None,
    keywords: str = "",
    request: HttpRequest | None = None,
) -> LifeEvent:
    """Create or replace a bundle's definition (back to draft); checked whole before anything is saved."""
    if acting_user is not None:
        require_perm(acting_user, Perm.CATALOG_PUBLISH, None, request=request, action="life_event_save")
    with transaction.atomic(durable=True):
        return life_event_save_in_transaction(
            acting_user=acting_user,
            code=code,
            name=name,
            audience=audience,
            summary=summary,
            entries=entries,
            questions=questions,
            themes=themes,
            keywords=keywords,
            request=request,
        )


def life_event_save_in_transaction(
    *,
    acting_user: User | None,
    code: str,
    name: str,
    audience: str,
    summary: str,
    entries: list[LifeEventEntry],
    questions: dict[str, Any] | None = None,
    themes: list[str] | None = None,
    keywords: str = "",
    request: HttpRequest | None = None,
) -> LifeEvent:
    problems: list[Problem] = []
    if questions:
        problems += [Problem(f"questions.{p.field}", p.message) for p in check_form_schema(questions)]
    question_fields = set((questions or {}).get("properties", {}))
    items = {
        i.implementation_code: i
        for i in ServiceItem.objects.filter(implementation_code__in=[e.implementation_code for e in entries])
    }
    if not entries:
        problems.append(Problem("entries", _("一件事至少包含一个事项。")))
    for entry in entries:
        if entry.implementation_code not in items:
            problems.append(Problem(entry.implementation_code, _("事项不存在。")))
        if entry.condition:
            try:
                conditions.validate_condition(entry.condition)
            except conditions.ConditionError as exc:
                problems.append(Problem(entry.implementation_code, str(exc)))
            else:
                unknown = conditions.condition_fields(entry.condition) - question_fields
                if unknown:
                    problems.append(
                        Problem(
                            entry.implementation_code,
                            _("纳入条件引用了未定义的情形问题：%(f)s") % {"f": "、".join(sorted(unknown))},
                        )
                    )
    if problems:
        raise CatalogError(name, problems)
    event, _created = LifeEvent.objects.update_or_create(
        code=code,
        defaults={
            "name": name,
            "audience": audience,
            "summary": summary,
            "questions": questions or {},
            "keywords": keywords,
            "status": VersionStatus.DRAFT,
            "published_at": None,
        },
    )
    event.full_clean()
    event.entries.all().delete()
    try:
        LifeEventItem.objects.bulk_create(
            [
                LifeEventItem(
                    life_event=event,
                    item=items[e.implementation_code],
                    position=i,
                    condition=e.condition,
                    condition_label=e.condition_label,
                    field_map=e.field_map,
                )
                for i, e in enumerate(entries)
            ]
        )
    except IntegrityError:
        raise CatalogError(name, [Problem("entries", _("同一事项不能重复加入。"))]) from None
    event.themes.set(Theme.objects.filter(code__in=themes or []))
    search.unindex_life_event(event)
    audit_record(
        event_type=AuditEventType.CATALOG_CHANGED,
        acting_user=acting_user,
        request=request,
        target=event,
        extra_data={"action": "life_event_save", "code": code},
    )
    return event


def life_event_publish(
    *, acting_user: User | None, life_event: LifeEvent, request: HttpRequest | None = None
) -> None:
    """Publish after checking that every item is published and the merged form has no conflicts."""
    if acting_user is not None:
        require_perm(acting_user, Perm.CATALOG_PUBLISH, None, request=request, action="life_event_publish")
    with transaction.atomic(durable=True):
        life_event_publish_in_transaction(acting_user=acting_user, life_event=life_event, request=request)


def life_event_publish_in_transaction(
    *, acting_user: User | None, life_event: LifeEvent, request: HttpRequest | None = None
) -> None:
    event = LifeEvent.objects.select_for_update().get(pk=life_event.pk)
    merged_form(event)  # raises on unpublished items or conflicting fields
    event.status = VersionStatus.PUBLISHED
    event.published_at = timezone.now()
    event.save(update_fields=["status", "published_at"])
    search.index_life_event(event)
    audit_record(
        event_type=AuditEventType.CATALOG_CHANGED,
        acting_user=acting_user,
        request=request,
        target=event,
        extra_data={"action": "life_event_publish"},
    )
