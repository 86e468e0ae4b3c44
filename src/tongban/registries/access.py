"""One way to read and write every registry, whatever its storage: the typed population and legal-entity
tables or the JSON records of operator-defined registries. Used by the Digital Registries API."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from jsonschema import Draft202012Validator

from tongban.core import statements

from . import feed
from .loader import FIELDS, MODELS, RowError
from .models import RecordChange, Registry, RegistryKind, RegistryRecord

# Fields only the owning department's systems see when no sharing catalogue decides (see sharing_policy).
RESTRICTED = {
    RegistryKind.POPULATION: {"phone", "household_address", "marital_status"},
    RegistryKind.LEGAL_ENTITY: {"legal_rep_id_number"},
}


class View(Protocol):
    """What a department that does not own a registry may see of it."""

    # Fields it may filter or search by: those it sees in clear in every record it may see (a filter on a
    # masked or hidden field would answer questions about the value it may not see). See refused_filters.
    queryable: frozenset[str]

    def show(
        self, data: Mapping[str, Any]
    ) -> dict[str, Any]: ...  # the record as it may see it ({}: not at all)

    def narrow(self, queryset: models.QuerySet) -> models.QuerySet: ...  # only records it may see

    def grants_for(self, data: Mapping[str, Any]) -> list[int]: ...  # the grants a record is read under


@dataclass(frozen=True)
class _RestrictedView:
    registry: Registry

    @property
    def queryable(self) -> frozenset[str]:
        return frozenset(field_names(self.registry)) - RESTRICTED.get(self.registry.kind, set())

    def show(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in data.items() if k not in RESTRICTED.get(self.registry.kind, set())}

    def narrow(self, queryset: models.QuerySet) -> models.QuerySet:
        return queryset

    def grants_for(self, data: Mapping[str, Any]) -> list[int]:
        return []


def refused_filters(registry: Registry, view: View | None, names: Iterable[str]) -> list[str]:
    """The fields of a filter (or search) the viewer may not use: those its view does not release in clear
    for every record it may see (``view`` None: the owner, who may use every field). The registry's key is
    the record's address, which a read by key takes anyway, so it may always be used. Unknown names are
    left to ``matching``'s 400. The one check of the gateway, the Digital Registries API and staff pages."""
    if view is None:
        return []
    known = set(field_names(registry))
    return sorted(n for n in set(names) & known if n != registry.key_field and n not in view.queryable)


def _restricted_policy(registry: Registry, department_id: int) -> View | None:
    return _RestrictedView(registry)


# Who sees what of a registry it does not own. The data-sharing app replaces this with the catalogue's
# answer (unconditional resources and the department's grants, masked by grade); this default only
# hides the restricted fields.
sharing_policy: Callable[[Registry, int], View | None] = _restricted_policy


class AccessError(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def field_names(registry: Registry) -> list[str]:
    if registry.kind in FIELDS:
        return [f.name for f in FIELDS[registry.kind]]
    return list(registry.schema.get("properties", {}))


def _json(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def as_dict(registry: Registry, record: Any, *, full: bool) -> dict[str, Any]:
    """The record as the API shows it; restricted fields only for the owner (``full``)."""
    if registry.kind in FIELDS:
        data = {name: _json(getattr(record, name)) for name in field_names(registry)}
    else:
        data = {registry.key_field: record.key, **record.data}
    if not full:
        for name in RESTRICTED.get(registry.kind, set()):
            data.pop(name, None)
    return data


def _queryset(registry: Registry) -> models.QuerySet:
    if registry.kind in MODELS:
        return MODELS[registry.kind].objects.all()
    return RegistryRecord.objects.filter(registry=registry)


def matching(registry: Registry, content: Mapping[str, Any]) -> models.QuerySet:
    """Records whose fields equal every given value (an unknown field is an error, not an empty result)."""
    names = set(field_names(registry))
    unknown = set(content) - names
    if unknown:
        raise AccessError(_("未知字段：%(f)s") % {"f": "、".join(sorted(unknown))})
    if not content:
        raise AccessError(_("查询条件不能为空。"))
    queryset = _queryset(registry)
    if registry.kind in MODELS:
        for name, value in content.items():
            try:  # a value the column cannot hold ("1980" for a date) is the caller's error, not a 500
                queryset = queryset.filter(**{name: value})
            except (ValidationError, ValueError, TypeError):
                raise AccessError(_("“%(f)s”的值无效。") % {"f": name}) from None
        return queryset
    filters = {}
    for name, value in content.items():
        filters["key" if name == registry.key_field else f"data__{name}"] = value
    return queryset.filter(**filters)


def search_fields(registry: Registry, view: View | None) -> list[str]:
    """The fields a text search looks in: the name of a typed registry; the key and every field of an
    operator-defined one, for another department only those it may filter by (``refused_filters``)."""
    if registry.kind in MODELS:
        return ["name"]
    names = field_names(registry)
    return names if view is None else [n for n in names if not refused_filters(registry, view, [n])]


def search(
    registry: Registry,
    text: str,
    filters: Mapping[str, str],
    ordering: str,
    *,
    view: View | None = None,
) -> models.QuerySet:
    """Records matching the filters and containing ``text`` in a searched field (``search_fields``);
    ``view`` is the reader's, None for the owner."""
    queryset = matching(registry, filters) if filters else _queryset(registry)
    if text:
        fields = search_fields(registry, view)
        if not fields or refused_filters(registry, view, fields):
            raise AccessError(_("本部门不能按这些字段检索：%(f)s") % {"f": "、".join(fields)}, status=403)
        either = models.Q()
        for name in fields:
            if registry.kind in MODELS:
                either |= models.Q(**{f"{name}__icontains": text})
            elif name == registry.key_field:
                either |= models.Q(key__icontains=text)
            else:
                either |= models.Q(**{f"data__{name}__icontains": text})
        queryset = queryset.filter(either)
    key = registry.key_field if registry.kind in MODELS else "key"
    return queryset.order_by(f"-{key}" if ordering.lower().startswith("desc") else key)


def _validated(registry: Registry, content: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Validate written values with the same rules as the bulk loader (typed registries) or the schema."""
    names = set(field_names(registry))
    unknown = set(content) - names
    if unknown:
        raise AccessError(_("未知字段：%(f)s") % {"f": "、".join(sorted(unknown))})
    if registry.kind in FIELDS:
        values: dict[str, Any] = {}
        for field in FIELDS[registry.kind]:
            given = content.get(field.name)
            if given not in (None, ""):
                try:
                    values[field.name] = field.parse(str(given).strip())
                except RowError as exc:
                    raise AccessError(f"“{field.name}”{exc}") from None
            elif field.required and not partial:
                raise AccessError(_("“%(f)s”不能为空") % {"f": field.name})
        return values
    schema = dict(registry.schema)
    if partial:
        schema = {**schema, "required": []}
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(dict(content))]
    if errors:
        raise AccessError(_("数据不符合库结构：%(e)s") % {"e": "；".join(errors[:5])})
    return dict(content)


def _key_of(registry: Registry, values: Mapping[str, Any]) -> str:
    key = values.get(registry.key_field)
    if not key:
        raise AccessError(_("缺少主键字段“%(k)s”。") % {"k": registry.key_field})
    return str(key)


def _history(
    registry: Registry, key: str, before: Mapping[str, Any], after: Mapping[str, Any], source: str
) -> None:
    changes = {
        n: [_json(before.get(n)), _json(v)] for n, v in after.items() if _json(before.get(n)) != _json(v)
    }
    if changes:
        RecordChange.objects.create(
            registry=registry,
            key=key,
            changes=changes,
            source=source[:100],
            effective_from=after.get("effective_from"),
        )


def create(registry: Registry, content: Mapping[str, Any], *, source: str) -> Any:
    values = _validated(registry, content)
    key = _key_of(registry, values)
    with transaction.atomic():
        if _by_key(registry, key) is not None:
            raise AccessError(_("主键“%(k)s”已存在。") % {"k": key}, status=409)
        record = _store(registry, None, key, values, source)
        _history(registry, key, {}, values, source)
    return record


def update(registry: Registry, records: models.QuerySet, content: Mapping[str, Any], *, source: str) -> int:
    """Apply the written fields to every record found (the key itself cannot change)."""
    values = _validated(registry, content, partial=True)
    values.pop(registry.key_field, None)
    count = 0
    with transaction.atomic():
        for record in records.select_for_update():
            before = as_dict(registry, record, full=True)
            key = before[registry.key_field]
            _store(
                registry, record, key, {**before, **values} if registry.kind not in FIELDS else values, source
            )
            _history(registry, key, before, values, source)
            if registry.kind in FIELDS:
                from .quality import recheck_record

                recheck_record(registry, key)  # a correction closes its quality issues at once
            count += 1
    return count


@functools.cache
def _by_key_statement(kind: str, key_field: str) -> str:
    model = MODELS[kind]
    columns, _names = statements.select_list(model, "r")
    return (
        f"SELECT {columns} FROM {statements.table(model)} r "  # noqa: S608
        f"WHERE r.{statements.column(model, key_field)} = %s LIMIT 1"
    )


def _by_key(registry: Registry, key: str) -> Any:
    if registry.kind in MODELS:
        # The gateway reads by key on every call: a statement made once, not compiled by the ORM each time.
        with statements.cursor() as cursor:
            cursor.execute(_by_key_statement(registry.kind, registry.key_field), [key])
            row = cursor.fetchone()
        return None if row is None else statements.from_row(MODELS[registry.kind], row)
    return RegistryRecord.objects.filter(registry=registry, key=key).first()


def _area_of(registry: Registry, record: Any) -> str:
    if registry.kind in MODELS:
        return getattr(record, feed.AREA_FIELD, "") or ""
    return str(record.data.get(feed.AREA_FIELD) or "")


def _sequence(registry: Registry, record: Any, key: str, values: Mapping[str, Any]) -> int:
    """The change number of this write; a record leaving its area first leaves a tombstone there."""
    old_area = _area_of(registry, record) if record is not None else ""
    new_area = str(values.get(feed.AREA_FIELD, old_area) or "")
    moved = record is not None and old_area != new_area
    first = feed.allocate(registry, 2 if moved else 1)
    if moved:
        feed.tombstone(registry, key, first, area=old_area, moved_to=new_area)
        return first + 1
    return first


def _store(registry: Registry, record: Any, key: str, values: Mapping[str, Any], source: str) -> Any:
    now = timezone.now()
    seq = _sequence(registry, record, key, values)
    if registry.kind in MODELS:
        model = MODELS[registry.kind]
        if record is None:
            defaults = {
                f.name: v
                for f, v in ((f, values.get(f.name)) for f in FIELDS[registry.kind])
                if v is not None
            }
            return model.objects.create(**defaults, updated_at=now, source=source[:100], seq=seq)
        for name, value in values.items():
            setattr(record, name, value)
        record.updated_at, record.source, record.seq = now, source[:100], seq
        record.save()
        return record
    data = {k: v for k, v in values.items() if k != registry.key_field}
    if record is None:
        return RegistryRecord.objects.create(
            registry=registry, key=key, data=data, updated_at=now, source=source[:100], seq=seq
        )
    record.data, record.updated_at, record.source, record.seq = data, now, source[:100], seq
    record.save()
    return record


def delete(registry: Registry, key: str) -> bool:
    """Delete a record, leaving a tombstone so that change-feed subscribers drop it too."""
    with transaction.atomic():
        record = _by_key(registry, key)
        if record is None:
            return False
        feed.tombstone(registry, key, feed.allocate(registry, 1), area=_area_of(registry, record))
        record.delete()
    return True


def by_key(registry: Registry, key: str) -> Any:
    return _by_key(registry, key)


def subject_of(registry: Registry, record: Any) -> str:
    """Whose personal data a record is (for the data-usage log): the resident, or the legal representative."""
    if registry.kind == RegistryKind.POPULATION:
        return record.id_number
    if registry.kind == RegistryKind.LEGAL_ENTITY:
        return record.legal_rep_id_number
    return ""
