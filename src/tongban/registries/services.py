"""Writes to the base registries: records (through the Digital Registries API), operator-defined registry
definitions, bulk loads and the correction loop of data quality (纠错).

Every top-level service runs in one durable transaction with its audit record inside; a refused attempt
(not permitted, invalid, conflicting) is rolled back whole and leaves a failure record written after the
rollback (``refusals_audited``). Views, API handlers and commands parse, authorise, call one service.
Registry keys of the population registry are resident ID numbers: audit records carry them masked."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.http import HttpRequest
from django.utils.translation import gettext as _

from tongban.core.codes import mask_id_number
from tongban.core.constants import AuditEventType, AuditOutcome
from tongban.core.services import audit_record
from tongban.identity.permissions import Perm
from tongban.identity.selectors import staff_has_perm

from . import access, loader, quality
from .access import AccessError
from .models import LoadJob, QualityIssue, Registry, RegistryKind

if TYPE_CHECKING:
    from tongban.identity.models import SystemClient, User

P = ParamSpec("P")
R = TypeVar("R")


# ---- audit ---------------------------------------------------------------------------------------------


def _key_label(registry: Registry, key: Any) -> str:
    text = str(key or "")[:120]
    return mask_id_number(text) if registry.kind == RegistryKind.POPULATION else text


def _audit(
    event_type: str,
    *,
    action: str,
    registry: Registry | None,
    client: SystemClient | None = None,
    acting_user: User | None = None,
    request: HttpRequest | None = None,
    outcome: str = AuditOutcome.SUCCESS,
    target: Any = None,
    code: str = "",
    **extra: Any,
) -> None:
    audit_record(
        event_type=event_type,
        acting_user=acting_user,
        request=request,
        actor_label=client.application.client_id if client is not None else "",
        department=client.department if client is not None else None,
        outcome=outcome,
        target=target if target is not None else (registry if registry is not None and registry.pk else None),
        extra_data={"action": action, "registry": registry.code if registry is not None else code, **extra},
    )


def refusals_audited(event_type: str, action: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Put over ``@transaction.atomic(durable=True)``: a service that refuses (AccessError) leaves a failure
    record, written after its transaction is rolled back so that it survives (PERMISSION_DENIED for a
    403). The service's keyword arguments name who and what: client or acting_user, registry (or code) or
    issue, request."""

    def decorate(service: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(service)
        def audited(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return service(*args, **kwargs)
            except AccessError as exc:
                issue = kwargs.get("issue")
                registry = kwargs.get("registry") or (issue.rule.registry if issue is not None else None)
                _audit(
                    AuditEventType.PERMISSION_DENIED if exc.status == 403 else event_type,
                    action=action,
                    registry=registry,  # type: ignore[arg-type]
                    client=kwargs.get("client"),  # type: ignore[arg-type]
                    acting_user=kwargs.get("acting_user"),  # type: ignore[arg-type]
                    request=kwargs.get("request"),  # type: ignore[arg-type]
                    outcome=AuditOutcome.FAILURE,
                    target=issue,
                    code=str(kwargs.get("code") or "")[:60],
                    status=exc.status,
                    reason=exc.message[:300],
                )
                raise

        return audited

    return decorate


# ---- records (Digital Registries API) ------------------------------------------------------------------


def _require_owner(registry: Registry, client: SystemClient) -> None:
    if client.department_id != registry.owner_id:
        raise AccessError(_("只有主管部门的系统才能写入此库。"), status=403)


def _created(registry: Registry, content: Mapping[str, Any], source: str) -> Any:
    try:
        return access.create(registry, content, source=source)
    except IntegrityError:  # the same key written at the same moment by another call
        raise AccessError(_("主键已存在。"), status=409) from None


def _record_key(registry: Registry, record: Any) -> Any:
    return access.as_dict(registry, record, full=True)[registry.key_field]


def _locked(registry: Registry, query: Mapping[str, Any]) -> tuple[Any, list[Any]]:
    """The records matching the query, and the ids of at most two of them, locked for this transaction."""
    records = access.matching(registry, query)
    return records, list(records.select_for_update().values_list("pk", flat=True)[:2])


@refusals_audited(AuditEventType.REGISTRY_CHANGED, "create")
@transaction.atomic(durable=True)
def record_create(
    *,
    client: SystemClient,
    registry: Registry,
    content: Mapping[str, Any],
    source: str,
    request: HttpRequest | None = None,
) -> Any:
    """Create one record in a registry the client's department owns; 409 if its key exists."""
    _require_owner(registry, client)
    record = _created(registry, content, source)
    _audit(
        AuditEventType.REGISTRY_CHANGED,
        action="create",
        registry=registry,
        client=client,
        request=request,
        key=_key_label(registry, _record_key(registry, record)),
    )
    return record


@refusals_audited(AuditEventType.REGISTRY_CHANGED, "update")
@transaction.atomic(durable=True)
def record_update(
    *,
    client: SystemClient,
    registry: Registry,
    query: Mapping[str, Any],
    content: Mapping[str, Any],
    source: str,
    many: bool = False,
    request: HttpRequest | None = None,
) -> int:
    """Apply the written fields to the records the query finds (one only unless ``many``); returns how many."""
    _require_owner(registry, client)
    records, first = _locked(registry, query)
    if not many and len(first) > 1:
        raise AccessError(_("查询条件匹配多条记录，请使用 updateEntries。"))
    count = access.update(registry, records if many else records.filter(pk__in=first), content, source=source)
    if count == 0:
        raise AccessError(_("未找到记录。"), status=404)
    _audit(
        AuditEventType.REGISTRY_CHANGED,
        action="update_entries" if many else "update",
        registry=registry,
        client=client,
        request=request,
        count=count,
        fields=sorted(content)[:50],
    )
    return count


@refusals_audited(AuditEventType.REGISTRY_CHANGED, "update_or_create")
@transaction.atomic(durable=True)
def record_update_or_create(
    *,
    client: SystemClient,
    registry: Registry,
    query: Mapping[str, Any],
    content: Mapping[str, Any],
    source: str,
    request: HttpRequest | None = None,
) -> tuple[Any, bool]:
    """Update the one record the query finds, or create it from the query and the written fields.
    Returns (record, created)."""
    _require_owner(registry, client)
    records, first = _locked(registry, query)
    if len(first) > 1:
        raise AccessError(_("查询条件匹配多条记录。"))
    if first:
        access.update(registry, records.filter(pk=first[0]), content, source=source)
        record, created = records.model.objects.get(pk=first[0]), False
    else:
        record, created = _created(registry, {**query, **content}, source), True
    _audit(
        AuditEventType.REGISTRY_CHANGED,
        action="create" if created else "update",
        registry=registry,
        client=client,
        request=request,
        key=_key_label(registry, _record_key(registry, record)),
    )
    return record, created


@refusals_audited(AuditEventType.REGISTRY_CHANGED, "delete")
@transaction.atomic(durable=True)
def record_delete(
    *, client: SystemClient, registry: Registry, key: str, request: HttpRequest | None = None
) -> None:
    """Delete one record by key (a tombstone tells the change-feed subscribers)."""
    _require_owner(registry, client)
    if not access.delete(registry, key):
        raise AccessError(_("未找到记录。"), status=404)
    _audit(
        AuditEventType.REGISTRY_CHANGED,
        action="delete",
        registry=registry,
        client=client,
        request=request,
        key=_key_label(registry, key),
    )


# ---- registry definitions (operator-defined registries) ------------------------------------------------


def _schema_key(schema: Mapping[str, Any]) -> str:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise AccessError(_("不是有效的 JSON Schema：%(e)s") % {"e": exc.message[:200]}) from None
    required = schema.get("required") or [None]
    key = schema.get("x-key") or required[0]
    if not isinstance(key, str) or key not in schema.get("properties", {}):
        raise AccessError(_("数据结构需要主键字段：x-key，或第一个必填属性。"))
    return key


@refusals_audited(AuditEventType.REGISTRY_CHANGED, "define")
@transaction.atomic(durable=True)
def registry_define(
    *,
    client: SystemClient,
    code: str,
    schema: Any,
    catalog_name: str = "",
    request: HttpRequest | None = None,
) -> Registry:
    """Create an operator-defined registry owned by the client's department, or give one it owns a new
    schema version (x.y → x.y+1)."""
    code = (code or "").strip()
    if not code or not isinstance(schema, dict):
        raise AccessError(_("需要库编码和数据结构。"))
    key = _schema_key(schema)
    registry = Registry.objects.select_for_update().filter(code=code).first()
    if registry is not None and (
        registry.kind != RegistryKind.CUSTOM or registry.owner_id != client.department_id
    ):
        raise AccessError(_("只有主管部门才能修改此库的数据结构。"), status=403)
    created = registry is None
    if registry is None:
        registry = Registry(code=code, kind=RegistryKind.CUSTOM, owner_id=client.department_id, version="1.0")
    else:
        major, _dot, minor = registry.version.partition(".")
        registry.version = f"{major}.{int(minor or 0) + 1}"
    registry.name = str(schema.get("title") or catalog_name or code)[:100]
    registry.schema, registry.key_field = schema, key[:60]
    registry.description = str(schema.get("description") or "")
    try:
        registry.full_clean(validate_unique=False)
    except ValidationError as exc:
        raise AccessError(
            "；".join(f"{f}: {'、'.join(m)}" for f, m in exc.message_dict.items())[:300]
        ) from None
    try:
        with transaction.atomic():
            registry.save()
    except IntegrityError:  # defined by another call at the same moment
        raise AccessError(_("库编码“%(c)s”已被使用。") % {"c": code}, status=409) from None
    _audit(
        AuditEventType.REGISTRY_CHANGED,
        action="define",
        registry=registry,
        client=client,
        request=request,
        version=registry.version,
        created=created,
    )
    return registry


@refusals_audited(AuditEventType.REGISTRY_CHANGED, "delete_registry")
@transaction.atomic(durable=True)
def registry_delete(*, client: SystemClient, registry: Registry, request: HttpRequest | None = None) -> None:
    """Delete an operator-defined registry the client's department owns, with its records; refused while
    the sharing catalogue publishes it."""
    if registry.kind != RegistryKind.CUSTOM or registry.owner_id != client.department_id:
        raise AccessError(_("只有主管部门才能删除自己定义的库。"), status=403)
    _audit(
        AuditEventType.REGISTRY_CHANGED,
        action="delete_registry",
        registry=registry,
        client=client,
        request=request,
        version=registry.version,
    )
    try:
        with transaction.atomic():
            Registry.objects.get(pk=registry.pk).delete()
    except ProtectedError:
        raise AccessError(_("该库已在资源目录中发布，请先撤下其资源。"), status=409) from None


# ---- bulk loads ----------------------------------------------------------------------------------------


@refusals_audited(AuditEventType.REGISTRY_LOADED, "load")
@transaction.atomic(durable=True)
def _load_start(
    *,
    acting_user: User | None,
    registry: Registry,
    source: str,
    mapping: Mapping[str, str],
    batch_size: int,
    request: HttpRequest | None,
) -> LoadJob:
    if acting_user is not None and not staff_has_perm(acting_user, Perm.DATA_MANAGE, registry.owner):
        raise AccessError(_("您不是该库主管部门的数据管理员。"), status=403)
    try:
        job = loader.job_create(
            registry, source=source, mapping=mapping, batch_size=batch_size, acting_user=acting_user
        )
    except ValueError as exc:
        raise AccessError(str(exc)) from None
    _audit(
        AuditEventType.REGISTRY_LOADED,
        action="load_start",
        registry=registry,
        acting_user=acting_user,
        request=request,
        target=job,
        source=job.source,
    )
    return job


def registry_load(
    *,
    acting_user: User | None,
    registry: Registry,
    rows: Iterable[Mapping[str, Any]],
    source: str,
    mapping: Mapping[str, str] | None = None,
    batch_size: int = 50_000,
    request: HttpRequest | None = None,
) -> loader.LoadReport:
    """Bulk-load rows into a typed registry. ``acting_user`` is the officer (a data manager of the owning
    department); None only for the operator's command line. Not one transaction: a load of millions of rows
    commits batch by batch and resumes where it stopped (``loader.resume``). The job's start is a durable
    transaction with its audit record, its end commits with the record of what it accepted and rejected;
    a load that breaks off leaves a failure record naming the batches applied."""
    job = _load_start(
        acting_user=acting_user,
        registry=registry,
        source=source,
        mapping=dict(mapping or {}),
        batch_size=batch_size,
        request=request,
    )

    def finished(done: LoadJob) -> None:
        _audit(
            AuditEventType.REGISTRY_LOADED,
            action="load",
            registry=registry,
            acting_user=acting_user,
            request=request,
            target=done,
            accepted=done.accepted,
            rejected=done.rejected,
        )

    try:
        return loader.resume(job, rows, finished=finished)
    except Exception as exc:
        _audit(
            AuditEventType.REGISTRY_LOADED,
            action="load",
            registry=registry,
            acting_user=acting_user,
            request=request,
            outcome=AuditOutcome.FAILURE,
            target=job,
            batches_done=job.batches_done,
            reason=f"{type(exc).__name__}: {exc}"[:300],
        )
        raise


# ---- data quality: the correction loop (纠错) -----------------------------------------------------------


def _require_manager(acting_user: User, registry: Registry) -> None:
    if not staff_has_perm(acting_user, Perm.DATA_MANAGE, registry.owner):
        raise AccessError(_("您不是该库主管部门的数据管理员。"), status=403)


@refusals_audited(AuditEventType.QUALITY_ISSUE_HANDLED, "explain")
@transaction.atomic(durable=True)
def quality_issue_explain(
    *, acting_user: User, issue: QualityIssue, reason: str, request: HttpRequest | None = None
) -> QualityIssue:
    """The owning department keeps the value and says why (e.g. a historic record): the open issue no
    longer counts against it."""
    _require_manager(acting_user, issue.rule.registry)
    reason = (reason or "").strip()
    if not reason:
        raise AccessError(_("请填写不予纠正的理由。"))
    locked = QualityIssue.objects.select_for_update().get(pk=issue.pk)
    if locked.status != QualityIssue.OPEN:
        raise AccessError(_("该问题已处理，不能再说明。"), status=409)
    locked.status, locked.explanation, locked.handled_by = QualityIssue.EXPLAINED, reason[:300], acting_user
    locked.save(update_fields=["status", "explanation", "handled_by"])
    _audit(
        AuditEventType.QUALITY_ISSUE_HANDLED,
        action="explain",
        registry=issue.rule.registry,
        acting_user=acting_user,
        request=request,
        target=locked,
        rule=issue.rule.code,
    )
    issue.refresh_from_db()
    return issue


@refusals_audited(AuditEventType.QUALITY_ISSUE_HANDLED, "recheck")
@transaction.atomic(durable=True)
def quality_issue_recheck(
    *, acting_user: User, issue: QualityIssue, request: HttpRequest | None = None
) -> bool:
    """Check the issue's record again now (after a correction at the source); True when it passes and the
    issue is resolved."""
    _require_manager(acting_user, issue.rule.registry)
    locked = QualityIssue.objects.select_for_update().select_related("rule__registry").get(pk=issue.pk)
    was = locked.status
    resolved = quality.recheck(locked)
    if resolved and was != QualityIssue.RESOLVED:
        QualityIssue.objects.filter(pk=locked.pk).update(handled_by=acting_user)
    _audit(
        AuditEventType.QUALITY_ISSUE_HANDLED,
        action="recheck",
        registry=issue.rule.registry,
        acting_user=acting_user,
        request=request,
        target=locked,
        rule=issue.rule.code,
        resolved=resolved,
    )
    issue.refresh_from_db()
    return resolved
