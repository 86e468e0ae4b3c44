"""The sharing gateway: one place where another department's system reads a resource. Each call checks the
grant (unconditional resources need none), returns only granted fields, masks them by sensitivity grade,
counts against the grant's rate, records a data-tracker row per person read, appends one entry to the
Merkle audit log and answers with a receipt. Refused calls are logged too, with their error code."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from tongban.core import statements
from tongban.core.cache import TimedCache
from tongban.core.fastinsert import insert
from tongban.core.throttle import throttle_hit
from tongban.identity.models import SystemClient
from tongban.registries import access

from . import auditlog, masking
from .masking import mask  # noqa: F401 (the gateway's masking by grade, as callers know it)
from .models import Checkpoint, DataAccess, Grant, Resource, Sensitivity, ShareType

MAX_RECORDS = 100
RESOURCE_CACHE_SECONDS = 5.0
CHECKPOINT_CACHE_SECONDS = 1.0
GRANT_CACHE_SECONDS = (
    1.0  # a revoked grant stops working within this long in other processes; at once in this one
)
UNCONDITIONAL_RATE = 6000  # per minute and client, for resources anyone in government may read


class GatewayError(Exception):
    """A refused call: the documented error code, HTTP status and message."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


@dataclass(frozen=True)
class _Resource:
    pk: int
    code: str
    share_type: str
    registry: Any
    area_field: str
    fields: dict[str, int]  # name -> sensitivity, in catalogue order
    active: bool


# The catalogue, grants, registry views and the latest checkpoint are read on every call and change rarely:
# each process keeps them a few seconds.
_resources: TimedCache[_Resource | None] = TimedCache("exchange.resources", seconds=RESOURCE_CACHE_SECONDS)
_grants: TimedCache[list[Grant]] = TimedCache("exchange.grants", seconds=GRANT_CACHE_SECONDS)
_views: TimedCache[Any] = TimedCache("exchange.registry_views", seconds=GRANT_CACHE_SECONDS)
_checkpoint: TimedCache[Any] = TimedCache("exchange.checkpoint", seconds=CHECKPOINT_CACHE_SECONDS, size=1)


def _resource(code: str) -> _Resource | None:
    """A catalogue entry, kept 5 seconds per process."""
    return _resources.get_or_set(code, lambda: _load_resource(code))


def _load_resource(code: str) -> _Resource | None:
    row = Resource.objects.select_related("registry").prefetch_related("fields").filter(code=code).first()
    if row is None:
        return None
    return _Resource(
        pk=row.pk,
        code=row.code,
        share_type=row.share_type,
        registry=row.registry,
        area_field=row.area_field,
        fields={f.name: f.sensitivity for f in row.fields.all()},
        active=row.is_active,
    )


@dataclass
class Call:
    client: SystemClient
    resource_code: str
    key: str | None = None
    filters: Mapping[str, Any] | None = None
    fields: list[str] | None = None
    purpose: str = ""
    mediator: str = ""
    at: Any = field(default_factory=timezone.now)

    def request_value(self) -> dict[str, Any]:
        return {
            "client": self.client.application.client_id,
            "resource": self.resource_code,
            "key": self.key,
            "filter": dict(self.filters or {}),
            "fields": self.fields,
            "purpose": self.purpose,
            "at": self.at.isoformat(),
        }


def _grant(call: Call, resource: _Resource) -> Grant | None:
    return grant_in_force(resource, call.client.department_id, call.at)


def forget_grants(**_kwargs: Any) -> None:
    """A grant was written in this process: the next call reads grants afresh (connected to post_save)."""
    _grants.clear()
    _views.clear()


def grant_in_force(resource: _Resource, department_id: int, now: Any) -> Grant | None:
    """The consumer's grant in force (None for an unconditional resource), or the precise refusal."""
    if resource.share_type == ShareType.UNCONDITIONAL:
        return None
    grants = _grants.get_or_set(
        (resource.pk, department_id),
        lambda: list(
            Grant.objects.filter(resource_id=resource.pk, consumer_id=department_id).order_by("-created_at")[
                :5
            ]
        ),
    )
    for grant in grants:
        if grant.active(now):
            return grant
    if any(g.revoked_at is not None for g in grants):
        raise GatewayError("grant_revoked", 403, "the grant for this resource has been revoked")
    if grants:
        raise GatewayError(
            "grant_expired", 403, "the grant for this resource has expired or is not yet valid"
        )
    raise GatewayError("no_grant", 403, "no grant for this resource: file a share request first")


def permitted_fields(resource: _Resource, grant: Grant | None, wanted: Sequence[str] | None) -> list[str]:
    """The fields asked for (all the grant allows, if none are named), or the refusal naming the others."""
    allowed = list(resource.fields) if grant is None else [f for f in resource.fields if f in grant.fields]
    chosen = list(wanted or allowed)
    refused = [f for f in chosen if f not in allowed]
    if refused:
        raise GatewayError("fields_not_granted", 403, "fields not granted: " + ", ".join(refused[:20]))
    return chosen


def permitted_filters(
    resource: _Resource, grant: Grant | None, names: Iterable[str], hide: Mapping[str, int]
) -> None:
    """A filter may use only fields the grant releases in clear (a filter on a field not granted, or
    granted only masked, would tell the caller whether the value it may not see is the one it guessed;
    ``hide``: identifiers the department sees masked, whose parts it sees masked too): the same check as
    the Digital Registries API's (``registries.access.refused_filters``)."""
    view = RegistryView(
        parts=(_part(resource.registry, resource.fields, grant, resource.area_field),),
        kind=resource.registry.kind,
        elsewhere=dict(hide),
    )
    refused = access.refused_filters(resource.registry, view, names)
    if refused:
        raise GatewayError(
            "filter_not_granted",
            403,
            "filter on fields the grant does not release in clear: " + ", ".join(refused[:20]),
        )


def granted_grades(resource: _Resource, grant: Grant | None) -> dict[str, int]:
    """Every field the grant releases (all of an unconditional resource), with its grade."""
    return {f: g for f, g in resource.fields.items() if grant is None or f in grant.fields}


def masked_elsewhere(resource: _Resource, department_id: int) -> dict[str, int]:
    """Identifiers of the resource's registry the department may see masked through any resource over it,
    by grade: their parts are masked in every answer it gets (see ``masking``)."""
    view = registry_view(resource.registry, department_id)
    return view.masked_identifiers if view is not None else {}


def count_call(client: SystemClient, resource: _Resource, grant: Grant | None) -> None:
    """One call (or bulk batch) against the grant's rate, per client and resource."""
    rate = UNCONDITIONAL_RATE if grant is None else grant.rate_per_minute
    if not throttle_hit(f"gw:{client.pk}:{resource.pk}", limit=rate, window_seconds=60):
        raise GatewayError("rate_limited", 429, f"over the granted rate of {rate} calls per minute")


def area_prefix(code: str) -> str:
    """The prefix every area below ``code`` starts with (GB/T 2260 levels of two digits, townships of
    three): 339900 → 3399, 339902 → 339902, 339902000 → 339902, 330000 → 33."""
    code = code.strip()
    if len(code) == 9 and code.endswith("000"):
        code = code[:6]
    while len(code) > 2 and len(code) % 2 == 0 and code.endswith("00"):
        code = code[:-2]
    return code


def _in_scope(area: str, scope: list[str]) -> bool:
    # A scope of area codes covers each area and everything below it (339900 covers 339902 …).
    return not scope or any(area.startswith(area_prefix(code)) for code in scope)


def query(call: Call) -> dict[str, Any]:
    """Run one call; returns the response body with its receipt. Raises GatewayError after logging."""
    resource = _resource(call.resource_code)
    try:
        if resource is None or not resource.active:
            raise GatewayError("unknown_resource", 404, "no such resource in the catalogue")
        if call.client.department_id is None:
            raise GatewayError("no_grant", 403, "the client belongs to no department")
        grant = _grant(call, resource)
        wanted = permitted_fields(resource, grant, call.fields)
        grades = granted_grades(resource, grant)
        clear = set(grant.clear_fields) if grant is not None else set()
        hide = masked_elsewhere(resource, call.client.department_id)
        kind = resource.registry.kind
        if call.filters:
            permitted_filters(resource, grant, call.filters, hide)
        count_call(call.client, resource, grant)
        records = _read(call, resource, grant)
        chosen = set(wanted)
        out = [
            masking.mask_record(data, [n for n in data if n in chosen], grades, clear, kind=kind, hide=hide)
            for data, _subject, _area in records
        ]
    except GatewayError as exc:
        _record(call, resource, None, [], status=exc.status, error=exc.code)
        raise
    body = {"resource": resource.code, "count": len(out), "records": out}
    receipt = _record(call, resource, grant, records, status=200, response=out, fields=wanted)
    body["receipt"] = receipt
    return body


def answer(call: Call) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body of a call, refusals included: what both ways in (the API router and
    the lean WSGI path of ``fastpath``) send back."""
    try:
        return 200, query(call)
    except GatewayError as exc:
        return exc.status, {"code": exc.code, "message": exc.message}


def _read(call: Call, resource: _Resource, grant: Grant | None) -> list[tuple[dict[str, Any], str, str]]:
    registry = resource.registry
    scope = grant.scope_areas if grant is not None else []
    try:
        if call.key is not None:
            record = access.by_key(registry, call.key)
            rows = [record] if record is not None else []
        else:
            rows = list(
                access.matching(registry, call.filters or {})[: MAX_RECORDS * 4 if scope else MAX_RECORDS]
            )
    except access.AccessError as exc:
        raise GatewayError("bad_query", 400, exc.message) from None
    out = []
    for row in rows:
        data = access.as_dict(registry, row, full=True)
        area = str(data.get(resource.area_field) or "") if resource.area_field else ""
        if scope and not _in_scope(area, scope):
            if call.key is not None:
                raise GatewayError("outside_scope", 403, "the record is outside the grant's scope")
            continue
        out.append((data, access.subject_of(registry, row), area))
        if len(out) == MAX_RECORDS:
            break
    if call.key is not None and not out:
        raise GatewayError("not_found", 404, "no record with this key")
    return out


def _record(
    call: Call,
    resource: _Resource | None,
    grant: Grant | None,
    records: list[tuple[dict[str, Any], str, str]],
    *,
    status: int,
    error: str = "",
    response: Any = None,
    fields: list[str] | None = None,
) -> dict[str, Any]:
    """Log the call (Merkle entry, data-tracker rows) in one transaction, and make its receipt."""
    salt = auditlog.new_salt()  # the caller's alone: nobody else can test a guess against the entry
    request_hash = auditlog.digest(call.request_value(), salt)
    response_hash = auditlog.digest(response, salt) if response is not None else None
    entry = {
        "client": call.client.application.client_id,
        "consumer": call.client.department.code if call.client.department_id else "",
        "mediator": call.mediator,
        "resource": call.resource_code,
        "grant": grant.pk if grant is not None else None,
        "status": status,
        "error": error or None,
        "records": len(records),
        "request": request_hash,
        "response": response_hash,
    }
    purpose = (call.purpose or (grant.purpose if grant else ""))[:300]
    subjects = [s for _d, s, _a in records if s] if resource is not None else []
    if connection.vendor == "postgresql":
        index = _append_postgresql(call, resource, grant, entry, subjects, purpose, fields or [])
    else:
        with transaction.atomic():
            index = auditlog.log_append("gateway", entry)
            for subject in subjects:
                insert(
                    DataAccess(
                        subject=subject,
                        resource_id=resource.pk,
                        consumer_id=call.client.department_id,
                        grant=grant,
                        purpose=purpose,
                        fields=fields or [],
                        log_index=index,
                        at=call.at,
                    )
                )
    checkpoint = _latest_checkpoint()
    return {
        "request_hash": request_hash,
        "response_hash": response_hash,
        "salt": salt,
        "log_index": index,
        "checkpoint": (
            {
                "tree_size": checkpoint.tree_size,
                "root_hash": auditlog._b64(bytes(checkpoint.root_hash)),
                "signed_at": checkpoint.signed_at.isoformat(),
            }
            if checkpoint is not None
            else None
        ),
        "proof": auditlog.receipt_path(index),
    }


def _append_postgresql(
    call: Call,
    resource: _Resource | None,
    grant: Grant | None,
    entry: dict[str, Any],
    subjects: list[str],
    purpose: str,
    fields: list[str],
) -> int:
    """The log entry and its tracker rows in one statement: atomic on its own, one round trip, and in the
    caller's transaction if there is one."""
    append, params = auditlog.append_statement("gateway", entry, timezone.now())
    if not subjects:
        with statements.cursor() as cursor:
            cursor.execute(append, params)
            index = cursor.fetchone()[0] - 1
        auditlog.appended()
        return index
    sql = (
        f"WITH e AS ({append}), d AS ("  # noqa: S608 (a constant statement; values are parameters)
        "INSERT INTO exchange_dataaccess (subject, resource_id, consumer_id, grant_id, purpose, fields, log_index, at) "
        "SELECT s, %s, %s, %s, %s, %s::jsonb, e.id - 1, %s FROM e, unnest(%s::text[]) AS s) "
        "SELECT id - 1 FROM e"
    )
    params += [
        resource.pk,
        call.client.department_id,
        grant.pk if grant is not None else None,
        purpose,
        json.dumps(fields, ensure_ascii=False),
        call.at,
        subjects,
    ]
    with statements.cursor() as cursor:
        cursor.execute(sql, params)
        index = cursor.fetchone()[0]
    auditlog.appended()
    return index


def _latest_checkpoint() -> Any:
    """The receipt's checkpoint reference: the latest signed one (or none yet), re-read at most once a second
    (a new one is signed every couple of seconds; the proof URL always serves the current one)."""
    return _checkpoint.get_or_set(None, _load_checkpoint)


def _load_checkpoint() -> Any:
    return Checkpoint.objects.only("tree_size", "root_hash", "signed_at").first()


def forget_checkpoint(**_kwargs: Any) -> None:
    """A checkpoint was signed in this process (connected to post_save)."""
    _checkpoint.clear()


def log_refused_token(*, token_hint: str, path: str, mediator: str) -> None:
    """A call with a missing, forged or expired token: logged, with a hash of the token, never the token."""
    with transaction.atomic():
        auditlog.log_append(
            "gateway",
            {
                "client": None,
                "status": 401,
                "error": "bad_token",
                "token": token_hint,
                "path": path[:200],
                "mediator": mediator,
            },
        )


# ---- the catalogue's answer for the Digital Registries API ---------------------------------------------


@dataclass(frozen=True)
class _Part:
    fields: dict[str, int]  # name -> grade
    clear: frozenset[str]
    prefixes: tuple[str, ...]  # area prefixes; empty: every record
    lookup: str  # the ORM lookup of the area field
    area_field: str
    grant: int | None = None  # the grant it is read under (None: an unconditional resource)

    def covers(self, data: Mapping[str, Any]) -> bool:
        area = str(data.get(self.area_field) or "")
        return not self.prefixes or any(area.startswith(p) for p in self.prefixes)

    def in_clear(self, name: str) -> bool:
        """The field is released and shown as it is: below grade 3, or named clear by the grant."""
        return name in self.fields and (self.fields[name] < Sensitivity.SENSITIVE or name in self.clear)


def _part(registry: Any, fields: Mapping[str, int], grant: Grant | None, area_field: str) -> _Part:
    """What one resource (its fields and their grades) releases under a grant (None: unconditional)."""
    from tongban.registries.loader import MODELS

    return _Part(
        fields={n: g for n, g in fields.items() if grant is None or n in grant.fields},
        clear=frozenset(grant.clear_fields if grant is not None else ()),
        prefixes=tuple(area_prefix(a) for a in (grant.scope_areas if grant is not None else [])),
        lookup=area_field if registry.kind in MODELS else f"data__{area_field}",
        area_field=area_field,
        grant=grant.pk if grant is not None else None,
    )


@dataclass(frozen=True)
class RegistryView:
    """What one department may see of a registry it does not own: for each resource over the registry that
    it may read (unconditional, or under its grant in force), those fields, masked by grade unless the
    grant gives them in clear, for the records in that grant's areas."""

    parts: tuple[_Part, ...]
    kind: str = ""
    elsewhere: Mapping[str, int] = field(default_factory=dict)  # masked identifiers of a wider view

    @functools.cached_property
    def masked_identifiers(self) -> dict[str, int]:
        """Identifiers the department may see masked in some record, at the lowest grade it sees them; not
        those it has in clear for every record (an unscoped part gives them in clear). Their parts are
        masked in every record it gets (``masking``)."""
        found: dict[str, int] = dict(self.elsewhere)
        for identifier in masking.parts_of(self.kind):
            seen = [p for p in self.parts if identifier in p.fields]
            if any(
                not p.prefixes and (identifier in p.clear or p.fields[identifier] < Sensitivity.SENSITIVE)
                for p in seen
            ):
                continue
            grades = [
                p.fields[identifier]
                for p in seen
                if identifier not in p.clear and p.fields[identifier] >= Sensitivity.SENSITIVE
            ]
            if grades:
                found[identifier] = min([*grades, found.get(identifier, grades[0])])
        return found

    @property
    def queryable(self) -> frozenset[str]:
        """The fields seen in clear in every record ``narrow`` lets through: a filter on a field masked,
        or seen only in some areas, would reveal values or matches the department may not see. A part of
        an identifier seen masked is masked too (``masking``)."""
        names = {name for p in self.parts for name in p.fields}
        masked = set(masking.unfilterable(self.kind, names, {}, (), self.masked_identifiers))
        return frozenset(name for name in names if name not in masked and self._clear_everywhere(name))

    def _clear_everywhere(self, name: str) -> bool:
        clear = [p for p in self.parts if p.in_clear(name)]
        if any(not p.prefixes for p in clear):
            return True
        if any(not p.prefixes for p in self.parts):
            return False  # every record is seen, the field in clear only in some areas
        reach = [c for p in clear for c in p.prefixes]
        return all(any(q.startswith(c) for c in reach) for p in self.parts for q in p.prefixes)

    def grants_for(self, data: Mapping[str, Any]) -> list[int]:
        """The grants a record is read under: those of the parts that show it (a read under a grant held
        back for a covert purpose stays out of the person's data tracker until its date)."""
        return sorted({p.grant for p in self.parts if p.grant is not None and p.covers(data)})

    @staticmethod
    def _merged(parts: Sequence[_Part]) -> tuple[dict[str, int], set[str]]:
        grades: dict[str, int] = {}
        clear: set[str] = set()
        for part in parts:
            for name, grade in part.fields.items():
                grades[name] = min(grade, grades.get(name, grade))
            clear |= part.clear
        return grades, clear

    def show(self, data: Mapping[str, Any]) -> dict[str, Any]:
        grades, clear = self._merged([p for p in self.parts if p.covers(data)])
        return masking.mask_record(
            data, list(grades), grades, clear, kind=self.kind, hide=self.masked_identifiers
        )

    def narrow(self, queryset: Any) -> Any:
        if any(not p.prefixes for p in self.parts):
            return queryset
        either = Q()
        for part in self.parts:
            for prefix in part.prefixes:
                either |= Q(**{f"{part.lookup}__startswith": prefix})
        return queryset.filter(either)


def registry_view(registry: Any, department_id: int) -> RegistryView | None:
    """The sharing catalogue's answer for registries.access.sharing_policy (None: nothing shared), kept
    for as long as grants are (a grant written in this process clears it at once)."""
    return _views.get_or_set((registry.pk, department_id), lambda: _registry_view(registry, department_id))


def _registry_view(registry: Any, department_id: int) -> RegistryView | None:
    now = timezone.now()
    parts = []
    resources = (
        Resource.objects.filter(registry=registry, is_active=True)
        .exclude(share_type=ShareType.NONE)
        .prefetch_related("fields")
    )
    for resource in resources:
        try:
            grant = grant_in_force(resource, department_id, now)
        except GatewayError:
            continue  # nothing in force for this department
        fields = {f.name: f.sensitivity for f in resource.fields.all()}
        parts.append(_part(registry, fields, grant, resource.area_field))
    return RegistryView(parts=tuple(parts), kind=registry.kind) if any(p.fields for p in parts) else None
