"""Import and export of the whole catalogue (format documented in docs/catalogue.md).

One structure, three encodings: JSON, YAML, and Excel (one row per item for departments that work in
spreadsheets; nested fields as JSON text in their cells). Import is all-or-nothing: every bad row is
reported with its line or position and the field at fault, and nothing is saved unless all rows are good.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook, load_workbook

from tongban.core.constants import AuditEventType
from tongban.core.models import AuditEvent
from tongban.core.services import audit_event
from tongban.identity.models import Department, User

from . import search, services
from .constants import VersionStatus
from .models import LifeEvent, Material, ServiceItem, ServiceItemVersion, Theme
from .validation import CatalogError, Problem, check_basic_code, check_implementation_code

FORMAT = "tongban-catalogue/1"
ITEM_COLUMNS = ["department", "basic_code", "status", *services.VERSION_FIELDS, "materials", "themes"]
JSON_COLUMNS = {"applicant_types", "channels", "form_schema", "workflow", "materials", "decision_rules"}
EVENT_COLUMNS = [
    "code",
    "name",
    "audience",
    "status",
    "summary",
    "keywords",
    "themes",
    "questions",
    "entries",
]
THEME_COLUMNS = ["code", "name", "kind", "audience", "position"]


@dataclass
class RowError:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}：{self.message}"


class ImportRefused(Exception):
    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    life_events: int = 0
    themes: int = 0
    notes: list[str] = field(default_factory=list)


# ---- export ------------------------------------------------------------------------------------------


def export_catalogue(*, departments: QuerySet[Department] | None = None) -> dict[str, Any]:
    """The whole catalogue; with ``departments``, only those departments' items (and no life events,
    which belong to the platform)."""
    items = []
    rows = ServiceItem.objects.select_related("department").order_by("implementation_code")
    if departments is not None:
        rows = rows.filter(department__in=departments)
    for item in rows:
        version = item.published_version or item.versions.order_by("-number").first()
        content = services.content_of(version)
        items.append(
            {
                "department": item.department.code,
                "basic_code": item.basic_code,
                "status": version.status,
                "version": content.fields,
                "materials": content.materials,
                "themes": content.themes,
            }
        )
    events = []
    life_events = LifeEvent.objects.prefetch_related("entries__item__department", "themes").order_by("code")
    for event in life_events if departments is None else []:
        events.append(
            {
                "code": event.code,
                "name": event.name,
                "audience": event.audience,
                "status": event.status,
                "summary": event.summary,
                "keywords": event.keywords,
                "themes": sorted(t.code for t in event.themes.all()),
                "questions": event.questions,
                "entries": [
                    {
                        "item": f"{e.item.department.code}/{e.item.basic_code}",
                        "condition": e.condition,
                        "condition_label": e.condition_label,
                        "field_map": e.field_map,
                    }
                    for e in event.entries.all()
                ],
            }
        )
    themes = [{k: getattr(t, k) for k in THEME_COLUMNS} for t in Theme.objects.all()]
    return {"format": FORMAT, "themes": themes, "items": items, "life_events": events}


def dumps(data: dict[str, Any], fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2).encode()
    if fmt == "yaml":
        return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()
    if fmt == "xlsx":
        return _to_workbook(data)
    raise ValueError(fmt)


def _cell(value: Any, as_json: bool) -> Any:
    """JSON columns hold JSON text; lists of codes (themes) are comma-separated; None is an empty cell."""
    if as_json or isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return ",".join(value)
    return "" if value is None else value


def _to_workbook(data: dict[str, Any]) -> bytes:
    wb = Workbook()
    sheet = wb.active
    sheet.title = "items"
    sheet.append(ITEM_COLUMNS)
    for item in data["items"]:
        row = {
            "department": item["department"],
            "basic_code": item["basic_code"],
            "status": item["status"],
            **item["version"],
            "materials": item["materials"],
            "themes": item["themes"],
        }
        sheet.append([_cell(row.get(c), c in JSON_COLUMNS) for c in ITEM_COLUMNS])
    events = wb.create_sheet("life_events")
    events.append(EVENT_COLUMNS)
    for event in data["life_events"]:
        events.append([_cell(event.get(c), c in {"questions", "entries"}) for c in EVENT_COLUMNS])
    themes = wb.create_sheet("themes")
    themes.append(THEME_COLUMNS)
    for theme in data["themes"]:
        themes.append([theme[c] for c in THEME_COLUMNS])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


# ---- import ------------------------------------------------------------------------------------------


def loads(content: bytes, fmt: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Parse a file into the catalogue structure, and where each row came from (for error messages)."""
    try:
        if fmt == "json":
            return json.loads(content.decode("utf-8-sig")), {}
        if fmt == "yaml":
            return yaml.safe_load(content.decode("utf-8-sig")), {}
        if fmt == "xlsx":
            return _from_workbook(content)
    except (ValueError, yaml.YAMLError) as exc:
        raise ImportRefused([RowError(_("文件"), _("无法解析：%(e)s") % {"e": str(exc)[:300]})]) from None
    raise ImportRefused([RowError(_("文件"), _("不支持的格式：%(f)s") % {"f": fmt})])


def _from_workbook(content: bytes) -> tuple[dict[str, Any], dict[str, str]]:
    try:
        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a file that is not a workbook
        raise ImportRefused(
            [RowError(_("文件"), _("不是有效的 Excel 文件：%(e)s") % {"e": str(exc)[:200]})]
        ) from None
    errors: list[RowError] = []
    where: dict[str, str] = {}

    def rows(name: str, columns: list[str]) -> list[tuple[int, dict[str, Any]]]:
        if name not in wb.sheetnames:
            return []
        it = wb[name].iter_rows(values_only=True)
        header = [str(h or "").strip() for h in next(it, [])]
        missing = [c for c in columns if c not in header]
        if missing:
            errors.append(
                RowError(_("工作表 %(s)s") % {"s": name}, _("缺少列：%(c)s") % {"c": "、".join(missing)})
            )
            return []
        return [
            (n, dict(zip(header, values, strict=False)))
            for n, values in enumerate(it, start=2)
            if any(v not in (None, "") for v in values)
        ]

    def parse_json(row: dict[str, Any], column: str, n: int, sheet: str, default: Any) -> Any:
        raw = row.get(column)
        if raw in (None, ""):
            return default
        try:
            return json.loads(raw) if isinstance(raw, str) else raw
        except ValueError as exc:
            errors.append(
                RowError(
                    _("%(s)s 第%(n)d行") % {"s": sheet, "n": n},
                    _("%(c)s 列不是有效的 JSON：%(e)s") % {"c": column, "e": exc},
                )
            )
            return default

    def split(value: Any) -> list[str]:
        return [v.strip() for v in str(value or "").split(",") if v.strip()]

    items = []
    for n, row in rows("items", ITEM_COLUMNS):
        version: dict[str, Any] = {}
        for column in services.VERSION_FIELDS:
            value = row.get(column)
            if column in JSON_COLUMNS:
                value = parse_json(
                    row,
                    column,
                    n,
                    "items",
                    [] if column in {"applicant_types", "channels", "decision_rules"} else {},
                )
            elif column in {"statutory_days", "committed_days", "max_visits"}:
                value = int(value) if isinstance(value, int | float) or str(value or "").isdigit() else value
            elif column == "fee_free":
                value = value in (True, 1, "1", "TRUE", "true", "是")
            else:
                value = "" if value is None else str(value)
            version[column] = value
        where[f"items[{len(items)}]"] = _("items 第%(n)d行") % {"n": n}
        items.append(
            {
                "department": str(row.get("department") or ""),
                "basic_code": str(row.get("basic_code") or ""),
                "status": str(row.get("status") or VersionStatus.PUBLISHED),
                "version": version,
                "materials": parse_json(row, "materials", n, "items", []),
                "themes": split(row.get("themes")),
            }
        )
    events = []
    for n, row in rows("life_events", EVENT_COLUMNS):
        where[f"life_events[{len(events)}]"] = _("life_events 第%(n)d行") % {"n": n}
        events.append(
            {
                **{
                    c: str(row.get(c) or "")
                    for c in ("code", "name", "audience", "status", "summary", "keywords")
                },
                "themes": split(row.get("themes")),
                "questions": parse_json(row, "questions", n, "life_events", {}),
                "entries": parse_json(row, "entries", n, "life_events", []),
            }
        )
    themes = [{c: row.get(c) for c in THEME_COLUMNS} for _n, row in rows("themes", THEME_COLUMNS)]
    if errors:
        raise ImportRefused(errors)
    return {"format": FORMAT, "themes": themes, "items": items, "life_events": events}, where


def import_catalogue(
    data: Any, *, acting_user: User | None = None, where: Mapping[str, str] | None = None
) -> ImportReport:
    """Load a catalogue structure. Items that exist (same department and basic code) get a new version when
    their content changed. Refuses the whole file, listing every bad row, if any row is bad."""
    where = where or {}
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise ImportRefused([RowError(_("文件"), _("缺少或不支持的 format（应为 %(f)s）。") % {"f": FORMAT})])
    report = ImportReport()
    errors: list[RowError] = []
    with transaction.atomic(durable=True):
        _import_themes(data.get("themes") or [], report, errors)
        departments = {d.code: d for d in Department.objects.filter(is_active=True).select_related("area")}
        themes = set(Theme.objects.values_list("code", flat=True))
        rows = list(enumerate(data.get("items") or []))
        existing = _existing_items(rows, departments)
        new_rows = []
        item_errors: list[tuple[int, RowError]] = []
        for index, row in rows:
            label = where.get(f"items[{index}]", f"items[{index}]")
            item = existing.get(_row_code(row, departments))
            if item is None:
                new_rows.append((index, label, row))
                continue
            try:
                with transaction.atomic():
                    _update_item(item, row, departments, themes, acting_user, report)
            except CatalogError as exc:
                item_errors += [(index, RowError(f"{label}（{exc.subject}）", str(p))) for p in exc.problems]
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                item_errors.append((index, RowError(label, _("结构不正确：%(e)s") % {"e": exc})))
        item_errors += _create_new_items(
            new_rows, departments, themes, acting_user, report, bulk=not (errors or item_errors)
        )
        errors += [error for _index, error in sorted(item_errors, key=lambda pair: pair[0])]
        for index, row in enumerate(data.get("life_events") or []):
            label = where.get(f"life_events[{index}]", f"life_events[{index}]")
            try:
                with transaction.atomic():
                    _import_event(row, departments, acting_user)
                    report.life_events += 1
            except CatalogError as exc:
                errors += [RowError(f"{label}（{exc.subject}）", str(p)) for p in exc.problems]
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                errors.append(RowError(label, _("结构不正确：%(e)s") % {"e": exc}))
        if errors:
            transaction.set_rollback(True)
    if errors:
        raise ImportRefused(errors)
    if report.created > 1000 and connection.vendor == "postgresql":
        # Fresh statistics after a bulk load, or the planner misjudges the search index until autovacuum runs.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE catalog_searchdocument")
    return report


def _row_code(row: Any, departments: dict[str, Department]) -> str | None:
    department = departments.get(row.get("department") or "") if isinstance(row, Mapping) else None
    return f"{department.uscc}{row.get('basic_code')}" if department else None


def _existing_items(
    rows: list[tuple[int, Any]], departments: dict[str, Department]
) -> dict[str, ServiceItem]:
    """The items the file names that exist already, by implementation code (one query per 900 rows)."""
    codes = [c for c in (_row_code(row, departments) for _i, row in rows) if c]
    found: dict[str, ServiceItem] = {}
    for start in range(0, len(codes), 900):
        found.update(
            ServiceItem.objects.in_bulk(codes[start : start + 900], field_name="implementation_code")
        )
    return found


def _row_content(row: Mapping[str, Any]) -> tuple[str, services.ItemContent, str, list[Problem]]:
    """(subject, content, status, problems) of one item row, for new and existing items alike."""
    subject = (row.get("version") or {}).get("name") or row.get("basic_code") or "?"
    content = services.ItemContent(
        fields=dict(row["version"]),
        materials=list(row.get("materials") or []),
        themes=list(row.get("themes") or []),
    )
    status = row.get("status") or VersionStatus.PUBLISHED
    problems = []
    if status not in (VersionStatus.PUBLISHED, VersionStatus.DRAFT):
        problems.append(Problem("status", _("导入的状态只能是 published 或 draft。")))
    return subject, content, status, problems


def _create_new_items(
    rows: list[tuple[int, str, Any]],
    departments: dict[str, Department],
    themes: set[str],
    acting_user: User | None,
    report: ImportReport,
    *,
    bulk: bool,
) -> list[tuple[int, RowError]]:
    """New items: every row is validated first; if all are good they are written in batches (the fast path
    that makes a 10,000-item import take seconds), with the same audit record and search document as one by one."""
    errors: list[tuple[int, RowError]] = []
    prepared = []
    seen: set[str] = set()
    for index, label, row in rows:
        try:
            department = departments.get(row.get("department") or "")
            subject, content, status, status_problems = _row_content(row)
            if department is None:
                raise CatalogError(
                    subject, [Problem("department", _("部门不存在：%(d)s") % {"d": row.get("department")})]
                )
            basic = str(row["basic_code"])
            code = f"{department.uscc}{basic}"
            problems = check_basic_code(basic) + check_implementation_code(
                code, department_uscc=department.uscc, basic_code=basic
            )
            if code in seen:
                problems.append(Problem("basic_code", _("文件中重复出现同一部门的同一基本编码。")))
            problems += status_problems
            if problems:
                raise CatalogError(subject, problems)
            seen.add(code)
            services.validate_content(content, subject=subject, departments=set(departments), themes=themes)
            prepared.append((department, basic, code, content, status))
        except CatalogError as exc:
            errors += [(index, RowError(f"{label}（{exc.subject}）", str(p))) for p in exc.problems]
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            errors.append((index, RowError(label, _("结构不正确：%(e)s") % {"e": exc})))
    if errors or not bulk or not prepared:
        return errors
    now = timezone.now()
    items = ServiceItem.objects.bulk_create(
        [
            ServiceItem(basic_code=basic, implementation_code=code, department=department)
            for department, basic, code, _content, _status in prepared
        ],
        batch_size=500,
    )
    versions = []
    for item, (_d, _b, _c, content, status) in zip(items, prepared, strict=True):
        version = ServiceItemVersion(
            item=item,
            number=1,
            created_by=acting_user,
            status=status,
            published_at=now if status == VersionStatus.PUBLISHED else None,
        )
        for name in services.VERSION_FIELDS:
            if name in content.fields:
                setattr(version, name, content.fields[name])
        version.full_clean(exclude=["item", "themes"], validate_unique=False, validate_constraints=False)
        versions.append(version)
    ServiceItemVersion.objects.bulk_create(versions, batch_size=500)
    theme_objects = {t.code: t for t in Theme.objects.all()}
    Material.objects.bulk_create(
        [
            Material(version=v, position=i, **{k: m[k] for k in services.MATERIAL_FIELDS if k in m})
            for v, (*_rest, content, _s) in zip(versions, prepared, strict=True)
            for i, m in enumerate(content.materials)
        ],
        batch_size=1000,
    )
    through = ServiceItemVersion.themes.through
    through.objects.bulk_create(
        [
            through(serviceitemversion_id=v.pk, theme_id=theme_objects[code].pk)
            for v, (*_rest, content, _s) in zip(versions, prepared, strict=True)
            for code in dict.fromkeys(content.themes)
        ],
        batch_size=1000,
    )
    published = []
    documents = []
    for item, version, (*_rest, content, status) in zip(items, versions, prepared, strict=True):
        if status == VersionStatus.PUBLISHED:
            item.published_version = version
            published.append(item)
            documents.append(
                search.item_document(item, version, [theme_objects[c] for c in dict.fromkeys(content.themes)])
            )
    ServiceItem.objects.bulk_update(published, ["published_version"], batch_size=500)
    search.index_items_bulk(documents)
    AuditEvent.objects.bulk_create(
        [
            audit_event(
                event_type=AuditEventType.CATALOG_CHANGED,
                acting_user=acting_user,
                target=version,
                department=item.department,
                extra_data={"action": "import", "code": item.implementation_code, "status": version.status},
            )
            for item, version in zip(items, versions, strict=True)
        ],
        batch_size=1000,
    )
    report.created += len(items)
    return errors


def _import_themes(rows: list[Mapping[str, Any]], report: ImportReport, errors: list[RowError]) -> None:
    for index, row in enumerate(rows):
        try:
            theme, _created = Theme.objects.update_or_create(
                code=row["code"],
                defaults={k: row[k] for k in ("name", "kind", "audience") if k in row}
                | {"position": int(row.get("position") or 0)},
            )
            theme.full_clean()
            report.themes += 1
        except Exception as exc:
            errors.append(RowError(f"themes[{index}]", str(exc)[:200]))


def _update_item(
    item: ServiceItem,
    row: Mapping[str, Any],
    departments: dict[str, Department],
    themes: set[str],
    acting_user: User | None,
    report: ImportReport,
) -> None:
    """An item that exists: a new version (or the open draft rewritten) when the row says something new."""
    subject, content, status, problems = _row_content(row)
    if problems:
        raise CatalogError(subject, problems)
    latest = item.versions.order_by("-number").first()
    if _same(services.content_of(latest), content) and latest.status == status:
        report.unchanged += 1
        return
    services.validate_content(content, subject=subject, departments=set(departments), themes=themes)
    if latest.status in (VersionStatus.DRAFT, VersionStatus.REVIEW):
        version = latest
        version.status = VersionStatus.DRAFT
    else:
        version = ServiceItemVersion(item=item, number=latest.number + 1, created_by=acting_user)
    services.write_content(version, content)
    report.updated += 1
    if status == VersionStatus.PUBLISHED:
        services.publish_in_transaction(acting_user=acting_user, version=version, require_review=False)


MATERIAL_DEFAULTS = {
    "form": "electronic",
    "copies": 1,
    "required": True,
    "condition": None,
    "condition_label": "",
    "formats": [],
    "max_size_mb": 10,
    "licence_type_code": "",
    "shared_resource_code": "",
    "notes": "",
}


def _same(current: services.ItemContent, incoming: services.ItemContent) -> bool:
    """Whether an imported row says nothing new (missing material keys take the model defaults)."""
    materials = [
        {k: m.get(k, MATERIAL_DEFAULTS.get(k)) for k in services.MATERIAL_FIELDS} for m in incoming.materials
    ]
    fields = {k: incoming.fields.get(k) for k in current.fields}
    return (
        current.fields == fields
        and current.materials == materials
        and current.themes == sorted(incoming.themes)
    )


def _import_event(
    row: Mapping[str, Any], departments: dict[str, Department], acting_user: User | None
) -> None:
    entries = []
    for entry in row.get("entries") or []:
        dept_code, _sep, basic = str(entry["item"]).partition("/")
        department = departments.get(dept_code)
        code = f"{department.uscc}{basic}" if department else str(entry["item"])
        entries.append(
            services.LifeEventEntry(
                implementation_code=code,
                condition=entry.get("condition"),
                condition_label=entry.get("condition_label") or "",
                field_map=entry.get("field_map") or {},
            )
        )
    event = services.life_event_save_in_transaction(
        acting_user=acting_user,
        code=row["code"],
        name=row["name"],
        audience=row["audience"],
        summary=row.get("summary") or "",
        entries=entries,
        questions=row.get("questions") or {},
        themes=row.get("themes") or [],
        keywords=row.get("keywords") or "",
    )
    if (row.get("status") or VersionStatus.PUBLISHED) == VersionStatus.PUBLISHED:
        services.life_event_publish_in_transaction(acting_user=acting_user, life_event=event)
