"""Bulk subscription (批量订阅), return flow (回流) and aggregation (汇聚).

A subscriber's system pulls a resource's change feed in batches: records and tombstones above a cursor,
in change-number order (``registries.feed``), only the subscribed fields, masked as the gateway masks
them, only the subscription's area. The first pass from 0 is the snapshot; later passes are the changes.
A batch is a pure function of (cursor, limit) and the data, so a repeated request (a retry after a lost
response, a restart from an older acknowledgement) delivers the same records at their latest state, and
applying them again changes nothing. Every batch re-checks the grant and is appended to the audit log
with the hash of the exact bytes delivered.

A district's system pushes its records up into a registry its department (or a parent department) owns,
in batches with a reference of its own: a replayed reference is answered from the first run and changes
nothing. The city (and, through their own subscriptions, the province or any other consumer) then gets
those records from the feed, so a district sends its data once, to one level."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest
from django.http import HttpRequest
from django.utils import timezone

from tongban.core.codes import CodeError, parse_area_code
from tongban.identity.models import Department, SystemClient
from tongban.identity.permissions import Perm
from tongban.identity.selectors import staff_has_perm
from tongban.identity.services import require_perm
from tongban.registries import feed, loader
from tongban.registries.models import LoadJob, RegistryRecord, Tombstone

from . import auditlog, gateway, masking, pseudonyms, services, tracker
from .gateway import GatewayError, area_prefix
from .models import Resource, Sensitivity, Subscription

MAX_BATCH = 50_000
DEFAULT_BATCH = 10_000
MAX_PUSH = 20_000  # and the request body within DATA_UPLOAD_MAX_MEMORY_SIZE (5 MB)


# ---- subscriptions ---------------------------------------------------------------------------------------


def subscription_create(
    *,
    client: SystemClient,
    resource_code: str,
    fields: Sequence[str] | None = None,
    purpose: str = "",
    down_to: str = "",
    acting_user: Any = None,
    request: HttpRequest | None = None,
) -> Subscription:
    """Subscribe a client to a resource offered for bulk subscription. A consumer below the provider's level
    (a district) only ever receives its own area: ``down_to`` defaults to it and may not leave it."""
    resource = gateway._resource(resource_code)
    if resource is None or not resource.active:
        raise GatewayError("unknown_resource", 404, "no such resource in the catalogue")
    row = Resource.objects.select_related("owner__area").get(pk=resource.pk)
    if not row.via_bulk:
        raise GatewayError("bulk_not_offered", 409, "this resource is not offered for bulk subscription")
    if not purpose.strip():
        raise GatewayError("bad_request", 400, "state the purpose of the subscription")
    consumer = Department.objects.select_related("area").get(pk=client.department_id)
    grant = gateway.grant_in_force(resource, consumer.pk, timezone.now())
    wanted = gateway.permitted_fields(resource, grant, fields)
    down_to = down_to.strip()
    if down_to:
        try:
            parse_area_code(down_to, allow_township=True)
        except CodeError:
            raise GatewayError("bad_request", 400, "down_to is not an area code") from None
    below_provider = not gateway._in_scope(row.owner.area.code, [consumer.area.code])
    if below_provider:
        # Return flow: a district receives its own area, never a neighbour's.
        if not down_to:
            down_to = consumer.area.code
        elif not gateway._in_scope(down_to, [consumer.area.code]):
            raise GatewayError(
                "outside_scope", 403, "a subscription may not reach outside the consumer's area"
            )
    if down_to and not resource.area_field:
        raise GatewayError("bad_request", 400, "this resource has no area field to filter by")
    with transaction.atomic(durable=True):
        subscription = Subscription.objects.create(
            resource_id=resource.pk,
            grant=grant,
            client=client,
            fields=wanted,
            purpose=purpose.strip()[:300],
            down_to=down_to,
            snapshot_seq=feed.high_water(resource.registry),
        )
        auditlog.log_append(
            "subscription",
            {
                "action": "create",
                "subscription": subscription.pk,
                "client": client.application.client_id,
                "consumer": consumer.code,
                "resource": resource.code,
                "grant": grant.pk if grant is not None else None,
                "fields": wanted,
                "down_to": down_to,
                "snapshot_seq": subscription.snapshot_seq,
                "by": acting_user.username if acting_user is not None else None,
            },
        )
        if acting_user is not None:
            services.audit_subscription(acting_user, subscription, request, action="subscription_create")
    return subscription


def subscription_cancel(
    subscription: Subscription, *, acting_user: Any = None, request: HttpRequest | None = None
) -> Subscription:
    """Cancelled by its client, or by staff: a data officer of the provider or of the data bureau."""
    if acting_user is not None:
        owner = subscription.resource.owner
        operator = services.operator_department()
        if not staff_has_perm(acting_user, Perm.DATA_MANAGE, owner) and not (
            operator is not None and staff_has_perm(acting_user, Perm.DATA_MANAGE, operator)
        ):
            require_perm(acting_user, Perm.DATA_MANAGE, owner, request=request, action="subscription_cancel")
    with transaction.atomic(durable=True):
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if locked.cancelled_at is None:
            locked.cancelled_at = timezone.now()
            locked.save(update_fields=["cancelled_at"])
            auditlog.log_append(
                "subscription",
                {
                    "action": "cancel",
                    "subscription": locked.pk,
                    "client": subscription.client.application.client_id,
                    "by": acting_user.username if acting_user is not None else None,
                },
            )
            if acting_user is not None:
                services.audit_subscription(acting_user, subscription, request, action="subscription_cancel")
    return locked


def subscription_ack(subscription: Subscription, seq: int) -> Subscription:
    """The subscriber has stored everything up to ``seq``: where it resumes if it asks without a cursor."""
    if seq < 0 or seq > subscription.delivered_seq:
        raise GatewayError("bad_request", 400, "can only acknowledge a number already delivered")
    Subscription.objects.filter(pk=subscription.pk, acknowledged_seq__lt=seq).update(acknowledged_seq=seq)
    subscription.refresh_from_db(fields=["acknowledged_seq"])
    return subscription


@dataclass
class Batch:
    body: bytes
    count: int
    after: int
    next_after: int
    more: bool
    phase: str  # snapshot | changes
    response_hash: str  # HMAC-SHA256 of the body keyed by the salt: the subscriber's to recompute
    salt: str
    log_index: int


def deliver(subscription: Subscription, *, after: int | None = None, limit: int = DEFAULT_BATCH) -> Batch:
    """One batch of the feed above ``after`` (default: the acknowledged number), as NDJSON lines:
    ``{"seq", "op": "upsert", "key", "data"}`` or ``{"seq", "op": "delete", "key", "reason"}``. The record
    is masked as a whole (``masking``); the key is the record's key where the subscriber sees that field in
    clear, otherwise the subscription's pseudonym of it (``pseudonyms.feed_pseudonyms``): the same on
    every upsert and deletion of the record, so the subscriber keeps its copy, but not the number."""
    client = subscription.client
    resource = gateway._resource(subscription.resource.code)
    after = subscription.acknowledged_seq if after is None else after
    limit = max(1, min(limit, MAX_BATCH))
    entry: dict[str, Any] = {
        "subscription": subscription.pk,
        "client": client.application.client_id,
        "consumer": client.department.code,
        "resource": subscription.resource.code,
        "after": after,
    }
    try:
        if subscription.cancelled_at is not None:
            raise GatewayError("subscription_cancelled", 410, "the subscription has been cancelled")
        if resource is None or not resource.active:
            raise GatewayError("unknown_resource", 404, "no such resource in the catalogue")
        if after < 0:
            raise GatewayError("bad_request", 400, "after must not be negative")
        grant = gateway.grant_in_force(resource, client.department_id, timezone.now())
        # Fields since withdrawn from the catalogue are dropped; the rest must still be granted.
        fields = gateway.permitted_fields(
            resource, grant, [f for f in subscription.fields if f in resource.fields]
        )
        gateway.count_call(client, resource, grant)
        grades = {f: resource.fields[f] for f in fields}
        clear = set(grant.clear_fields) if grant is not None else set()
        key_field = resource.registry.key_field
        key_clear = key_field in grades and (key_field in clear or grades[key_field] < Sensitivity.SENSITIVE)
        plan = _Plan(
            resource=resource,
            fields=grades,
            clear=clear,
            areas=_areas(subscription, grant),
            hide=gateway.masked_elsewhere(resource, client.department_id),
            pseudonym=None if key_clear else pseudonyms.feed_pseudonyms(subscription.pk),
        )
        horizon = feed.high_water(resource.registry)  # committed numbers up to here are all visible below
        if connection.vendor == "postgresql":
            count, last, body = _batch_postgresql(plan, after, limit)
        else:
            count, last, body = _batch_python(plan, after, limit)
    except GatewayError as exc:
        with transaction.atomic():
            auditlog.log_append("bulk", {**entry, "status": exc.status, "error": exc.code})
        raise
    more = count == limit
    next_after = last if more else max(last or after, horizon, after)
    salt = auditlog.new_salt()  # the subscriber's alone: nobody else can test a guessed batch
    response_hash = auditlog.digest_bytes(body, salt)
    with transaction.atomic():
        index = auditlog.log_append(
            "bulk",
            {
                **entry,
                "grant": grant.pk if grant is not None else None,
                "status": 200,
                "count": count,
                "last": next_after,
                "response": response_hash,
            },
        )
        Subscription.objects.filter(pk=subscription.pk).update(
            delivered_seq=Greatest(F("delivered_seq"), Value(next_after)), last_delivery_at=timezone.now()
        )
    return Batch(
        body=body,
        count=count,
        after=after,
        next_after=next_after,
        more=more,
        phase="snapshot" if next_after <= subscription.snapshot_seq and count else "changes",
        response_hash=response_hash,
        salt=salt,
        log_index=index,
    )


def _areas(subscription: Subscription, grant: Any) -> tuple[str, list[str]]:
    """(prefix every record must have, prefixes one of which it must have): the return-flow area and the
    grant's record scope."""
    scope = [area_prefix(a) for a in (grant.scope_areas if grant is not None else [])]
    return (area_prefix(subscription.down_to) if subscription.down_to else ""), scope


@dataclass
class _Plan:
    resource: Any  # gateway._Resource
    fields: dict[str, int]  # name -> sensitivity
    clear: set[str]
    areas: tuple[str, list[str]]
    hide: dict[str, int]  # identifiers the consumer may see masked anywhere (gateway.masked_elsewhere)
    pseudonym: Callable[[str], str] | None  # None: keys in clear

    @property
    def filtered(self) -> bool:
        return bool(self.areas[0] or self.areas[1])

    def key(self, value: Any) -> Any:
        return value if self.pseudonym is None else self.pseudonym(str(value))


# ---- the feed on PostgreSQL: the lines are built in the database and arrive as one text ----------------


def _sql_area(expr: str, plan: _Plan, params: list[Any]) -> str:
    down, scope = plan.areas
    parts = []
    if down:
        parts.append(f"{expr} LIKE %s")
        params.append(down + "%")
    if scope:
        parts.append("(" + " OR ".join(f"{expr} LIKE %s" for _ in scope) + ")")
        params.extend(p + "%" for p in scope)
    return " AND ".join(parts) or "TRUE"


def _sql_value(grade: int, clear: bool, json_expr: str, text_expr: str) -> str:
    """SQL for the JSON text of one field's value, masked as ``masking.mask`` masks it."""
    if clear or grade < Sensitivity.SENSITIVE:
        return f"coalesce(({json_expr})::text, 'null')"
    n = f"length({text_expr})"
    if grade >= Sensitivity.SECRET:
        masked = f"repeat('*', least({n}, 8))"
    else:
        masked = (
            f"left({text_expr}, {n} / 4) || repeat('*', {n} - 2 * ({n} / 4)) || right({text_expr}, {n} / 4)"
        )
    return (
        f"CASE WHEN {text_expr} IS NULL THEN 'null' WHEN {text_expr} = '' THEN '\"\"' "
        f"ELSE to_json({masked})::text END"
    )


def _sql_hidden(length: str, grade: int, position: int) -> str:
    """SQL for ``masking.hidden``: whether the mask of a value ``length`` long hides ``position``."""
    if grade >= Sensitivity.SECRET:
        return f"{length} > 0"
    keep = f"({length} / 4)"
    return (
        f"({length} > 0 AND ({keep} = 0 OR {position} >= {length} "
        f"OR ({position} >= {keep} AND {position} < {length} - {keep})))"
    )


def _sql_part(
    part: masking.Part,
    grade: int,
    clear: bool,
    json_expr: str,
    text_expr: str,
    id_text: str,
    id_grade: int,
    width: tuple[int, bool],
    *,
    usual: bool,
) -> str:
    """SQL for the JSON text of a part of an identifier seen masked, as ``masking.mask_record`` gives it:
    the characters at the identifier's hidden positions masked, on top of the field's own grade. ``usual``:
    for an identifier of the usual length (``masking.LENGTH``), whose hidden positions are known here, so
    the expression is a few substrings; the other, character by character, costs as much as the feed."""
    n, m = f"length({text_expr})", f"length({id_text})"
    own = Sensitivity.PUBLIC if clear else grade
    plain = _sql_value(grade, clear, json_expr, text_expr)
    masked = f"to_json(repeat('*', least({n}, 8)))::text"
    if part.chars is None:
        if usual:
            return masked if masking.hidden(masking.LENGTH, id_grade, part.at) else plain
        return f"CASE WHEN {_sql_hidden(m, id_grade, part.at)} THEN {masked} ELSE {plain} END"
    if own >= Sensitivity.SECRET:
        return plain
    repeats = {c: part.at + i for i, c in enumerate(part.chars)}
    if usual and own < Sensitivity.SENSITIVE:
        hidden_at = {t for t, p in repeats.items() if masking.hidden(masking.LENGTH, id_grade, p)}
        return f"coalesce(to_json({_sql_runs(text_expr, hidden_at, width[0], date=width[1])})::text, 'null')"
    pieces = []
    for t in range(width[0]):
        conditions = [_sql_hidden(n, own, t)] if own >= Sensitivity.SENSITIVE else []
        if t in repeats:
            conditions.append(_sql_hidden(m, id_grade, repeats[t]))
        char = f"substr({text_expr}, {t + 1}, 1)"
        pieces.append(
            f"CASE WHEN {t} >= {n} THEN '' WHEN {' OR '.join(conditions)} THEN '*' ELSE {char} END"
            if conditions
            else char
        )
    text = f"to_json({' || '.join(pieces)})::text"
    return f"CASE WHEN {text_expr} IS NULL THEN 'null' WHEN {text_expr} = '' THEN '\"\"' ELSE {text} END"


def _sql_runs(text_expr: str, hidden_at: set[int], width: int, *, date: bool) -> str:
    """The text with the characters at ``hidden_at`` starred, as runs of substrings and stars. A date's
    text is always YYYY-MM-DD, so its stars and dashes are literals: a birth date seen masked costs nothing."""
    pieces: list[str] = []  # SQL expressions, or literal text to be merged with its neighbours
    t = 0
    while t < width:
        end = t + 1
        while end < width and (end in hidden_at) == (t in hidden_at):
            end += 1
        if t in hidden_at:
            run = "*" * (end - t)
            pieces.append(
                run if date else f"repeat('*', least(greatest(length({text_expr}) - {t}, 0), {len(run)}))"
            )
        elif date and all(u in (4, 7) for u in range(t, end)):
            pieces.append("-" * (end - t))
        else:
            pieces.append(f"substr({text_expr}, {t + 1}, {end - t})")
        t = end
    merged: list[str] = []
    for piece in pieces:
        literal = set(piece) <= {"*", "-"}
        if literal and merged and merged[-1].startswith("'"):
            merged[-1] = merged[-1][:-1] + piece + "'"
        else:
            merged.append(f"'{piece}'" if literal else piece)
    text = " || ".join(merged)
    return f"CASE WHEN {text_expr} IS NULL THEN NULL ELSE {text} END" if date else text


def _width(model: Any, name: str) -> tuple[int, bool]:
    """The longest text a part of an identifier can have (parts are fields of the typed registries), and
    whether it is a date."""
    from django.db.models import DateField

    field = model._meta.get_field(name)
    return (10, True) if isinstance(field, DateField) else (field.max_length, False)


def _batch_postgresql(plan: _Plan, after: int, limit: int) -> tuple[int, int, bytes]:
    """Compact JSON lines concatenated in the database (json_build_object costs twice as much) and copied
    out as one stream of bytes, with no Python object per row."""
    registry = plan.resource.registry
    area_name = plan.resource.area_field or feed.AREA_FIELD
    for name in (*plan.fields, area_name):  # catalogue names, validated against the registry; still checked
        if not name.replace("_", "").isalnum():
            raise GatewayError("bad_query", 400, "unusable field name in the catalogue")
    params: list[Any] = []
    if registry.kind in loader.MODELS:
        table = loader.MODELS[registry.kind]._meta.db_table
        key = registry.key_field
        area_expr = area_name

        def json_of(name: str) -> str:
            return f"to_json({name})"

        def text_of(name: str) -> str:
            return f"{name}::text"

        where_record = ""
    else:
        table = RegistryRecord._meta.db_table
        key = "key"
        area_expr = "key" if area_name == registry.key_field else f"(data ->> '{area_name}')"

        def json_of(name: str) -> str:
            return "to_json(key)" if name == registry.key_field else f"(data -> '{name}')"

        def text_of(name: str) -> str:
            return "key" if name == registry.key_field else f"(data ->> '{name}')"

        where_record = "registry_id = %s AND "
        params.append(registry.pk)
    parts = {
        part.field: (identifier, part, id_grade)
        for identifier, part, id_grade in masking.hidden_parts(
            registry.kind, plan.fields, plan.clear, plan.hide
        )
    }

    def value_of(name: str, grade: int, usual: bool) -> str:
        if name in parts:
            identifier, part, id_grade = parts[name]
            return _sql_part(
                part,
                grade,
                name in plan.clear,
                json_of(name),
                text_of(name),
                text_of(identifier),
                id_grade,
                _width(loader.MODELS[registry.kind], name),
                usual=usual,
            )
        return _sql_value(grade, name in plan.clear, json_of(name), text_of(name))

    def values_of(usual: bool) -> str:
        return (
            " || ',' || ".join(
                f"'\"{name}\":' || " + value_of(name, grade, usual) for name, grade in plan.fields.items()
            )
            or "''"
        )

    values = values_of(usual=True)
    identifiers = sorted({identifier for identifier, _p, _g in parts.values()})
    if identifiers:  # one test of the identifiers' length per row, then the expression for it
        usual = " AND ".join(f"length({text_of(i)}) = {masking.LENGTH}" for i in identifiers)
        values = f"CASE WHEN {usual} THEN {values} ELSE {values_of(usual=False)} END"
    # A key to be pseudonymised travels between two chr(3) (never in JSON text, which escapes control
    # characters) and is replaced here, while the batch streams out: the key never leaves for the database.
    mark = "chr(3) || {} || chr(3)" if plan.pseudonym is not None else "{}"
    params.append(after)
    record_area = _sql_area(area_expr, plan, params)
    params.append(limit)
    params.extend([registry.pk, after])
    gone_area = _sql_area("area", plan, params)
    moved_area = _sql_area("moved_to", plan, params) if plan.filtered else "TRUE"
    params.extend([limit, limit])
    sql = (
        "WITH r AS ("  # noqa: S608
        f"""SELECT seq, '{{"seq":' || seq || ',"op":"upsert","key":' || {mark.format(f"to_json({key})::text")} || """
        f"""',"data":{{' || {values} || '}}}}' AS line FROM {table} """
        f"WHERE {where_record}seq > %s AND {record_area} ORDER BY seq LIMIT %s), "
        f"""t AS (SELECT seq, '{{"seq":' || seq || ',"op":"delete","key":' || {mark.format("to_json(key)::text")} || """
        """',"reason":"' || CASE WHEN moved_to = '' THEN 'deleted' ELSE 'moved_out' END || '"}' AS line """
        "FROM registries_tombstone WHERE registry_id = %s AND seq > %s "
        f"AND {gone_area} AND (moved_to = '' OR NOT ({moved_area})) ORDER BY seq LIMIT %s) "
        "SELECT line FROM (SELECT seq, line FROM r UNION ALL SELECT seq, line FROM t ORDER BY seq LIMIT %s) u"
    )
    # CSV with a delimiter and quote that JSON text never holds raw: every line arrives exactly as built.
    copy_sql = f"COPY ({sql}) TO STDOUT (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')"
    with connection.cursor() as cursor, cursor.cursor.copy(copy_sql, params) as copy:
        chunks = (bytes(chunk) for chunk in copy)  # a row each, as the database makes them
        if plan.pseudonym is not None:
            chunks = _pseudonymised(chunks, plan.pseudonym)
        body = b"".join(chunks)
    if not body:
        return 0, 0, b""
    last_line = body[body.rfind(b"\n", 0, len(body) - 1) + 1 :]  # every line ends with a newline
    return body.count(b"\n"), int(last_line[len(b'{"seq":') : last_line.index(b",")]), body


def _pseudonymised(chunks: Iterable[bytes], pseudonym: Callable[[str], str]) -> Iterator[bytes]:
    """The rows with each marked key replaced by its pseudonym, row by row as they arrive: the hashing
    runs here while the database is still making the next rows (a batch of 50,000 takes 40 ms of it)."""
    carry = b""
    for chunk in chunks:
        data = carry + chunk if carry else chunk
        if data.count(b"\x03") % 2:  # a key cut between two chunks: wait for its end
            carry = data
            continue
        carry = b""
        pieces = data.split(b"\x03")
        for i in range(1, len(pieces), 2):
            text = pieces[i]  # a JSON string
            key = json.loads(text) if b"\\" in text else text[1:-1].decode()
            pieces[i] = b'"%s"' % pseudonym(key).encode()
        yield b"".join(pieces)
    if carry:
        raise ValueError("an unterminated key in the feed")


# ---- the feed elsewhere (SQLite): the same lines, built here ----------------------------------------------


def _q(lookup: str, plan: _Plan) -> Q:
    down, scope = plan.areas
    condition = Q(**{f"{lookup}__startswith": down}) if down else Q()
    if scope:
        either = Q()
        for prefix in scope:
            either |= Q(**{f"{lookup}__startswith": prefix})
        condition &= either
    return condition


def _batch_python(plan: _Plan, after: int, limit: int) -> tuple[int, int, bytes]:
    from tongban.registries import access

    registry = plan.resource.registry
    area_name = plan.resource.area_field or feed.AREA_FIELD
    lookup = area_name if registry.kind in loader.MODELS else f"data__{area_name}"
    queryset = access._queryset(registry).filter(seq__gt=after).filter(_q(lookup, plan))
    items: list[tuple[int, dict[str, Any]]] = []
    for record in queryset.order_by("seq")[:limit]:
        data = access.as_dict(registry, record, full=True)
        items.append(
            (
                record.seq,
                {
                    "seq": record.seq,
                    "op": "upsert",
                    "key": plan.key(data[registry.key_field]),
                    "data": masking.mask_record(
                        data, plan.fields, plan.fields, plan.clear, kind=registry.kind, hide=plan.hide
                    ),
                },
            )
        )
    gone = Tombstone.objects.filter(registry=registry, seq__gt=after).filter(_q("area", plan))
    # A record moved within the subscriber's area is not gone for it; without an area, only deletions.
    gone = gone.filter(Q(moved_to="") | ~_q("moved_to", plan)) if plan.filtered else gone.filter(moved_to="")
    for stone in gone.order_by("seq")[:limit]:
        reason = "moved_out" if stone.moved_to else "deleted"
        items.append(
            (stone.seq, {"seq": stone.seq, "op": "delete", "key": plan.key(stone.key), "reason": reason})
        )
    items.sort(key=lambda item: item[0])
    items = items[:limit]
    if not items:
        return 0, 0, b""
    body = "".join(json.dumps(line, ensure_ascii=False) + "\n" for _seq, line in items)
    return len(items), items[-1][0], body.encode()


# ---- aggregation: a district's system pushes its records up -----------------------------------------------


@dataclass
class PushResult:
    batch_ref: str
    accepted: int
    rejected: int
    rejections: list[dict[str, Any]]
    replayed: bool
    log_index: int | None
    request_hash: str | None = None  # keyed by the salt, which only the pusher gets (a replay: none)
    salt: str | None = None


def _owner_line(department: Department, owner_id: int) -> bool:
    """The department is the owner or one of its branches below it (a district bureau of the city's)."""
    seen = 0
    current: Department | None = department
    while current is not None and seen < 10:
        if current.pk == owner_id:
            return True
        current = current.parent
        seen += 1
    return False


def push(
    *, client: SystemClient, resource_code: str, batch_ref: str, records: list[Mapping[str, Any]]
) -> PushResult:
    """Apply one batch of records to the registry behind a resource, once per ``batch_ref``."""
    resource = gateway._resource(resource_code)
    if resource is None or not resource.active:
        raise GatewayError("unknown_resource", 404, "no such resource in the catalogue")
    registry = resource.registry
    department = Department.objects.select_related("area", "parent__parent").get(pk=client.department_id)
    if not _owner_line(department, registry.owner_id):
        raise GatewayError(
            "not_contributor", 403, "only the owning department and its branches write to this registry"
        )
    if registry.kind not in loader.MODELS:
        raise GatewayError(
            "bad_request", 400, "records of operator-defined registries are written through /api/registries"
        )
    batch_ref = batch_ref.strip()
    if not batch_ref or len(batch_ref) > 100:
        raise GatewayError("bad_request", 400, "batch_ref: 1 to 100 characters")
    if len(records) > MAX_PUSH:
        raise GatewayError("too_large", 413, f"at most {MAX_PUSH} records per batch")
    ref = f"{client.application.client_id}:{batch_ref}"
    done = LoadJob.objects.filter(batch_ref=ref).first()
    if done is not None:
        return _result(done, batch_ref, replayed=True, log_index=None)
    own = department.pk == registry.owner_id
    prefix = area_prefix(department.area.code)
    kept: list[tuple[int, Mapping[str, Any]]] = []
    outside: list[list[Any]] = []
    for number, raw in enumerate(records):
        if not isinstance(raw, Mapping):
            outside.append([number, "不是对象"])
        elif not own and not str(raw.get(feed.AREA_FIELD) or "").startswith(prefix):
            outside.append([number, f"“{feed.AREA_FIELD}”不在本部门辖区"])
        else:
            kept.append((number, raw))
    try:
        with transaction.atomic(durable=True):
            job = LoadJob.objects.create(
                registry=registry,
                source=f"汇聚:{department.short_name}"[:200],
                batch_ref=ref,
                batch_size=max(1, len(kept)),
            )
            loader.resume(job, [raw for _n, raw in kept], workers=0)
            # The loader counts source lines from 2 (a header); here a record is its place in the batch.
            rejections = outside + [[kept[line - 2][0], reason] for line, reason in job.rejections]
            job.rejections = sorted(rejections)[: loader.MAX_REJECTIONS_KEPT]
            job.rejected += len(outside)
            job.save(update_fields=["rejections", "rejected"])
            salt = auditlog.new_salt()
            request_hash = auditlog.digest([dict(r) for _n, r in kept], salt)
            index = auditlog.log_append(
                "bulk_in",
                {
                    "client": client.application.client_id,
                    "consumer": department.code,
                    "resource": resource.code,
                    "batch_ref": batch_ref,
                    "records": len(records),
                    "accepted": job.accepted,
                    "rejected": job.rejected,
                    "request": request_hash,
                },
            )
    except IntegrityError:
        # The same reference arrived twice at once: the other request applied it.
        done = LoadJob.objects.filter(batch_ref=ref).first()
        if done is None:
            raise
        return _result(done, batch_ref, replayed=True, log_index=None)
    result = _result(job, batch_ref, replayed=False, log_index=index)
    result.request_hash, result.salt = request_hash, salt
    return result


def _result(job: LoadJob, batch_ref: str, *, replayed: bool, log_index: int | None) -> PushResult:
    return PushResult(
        batch_ref=batch_ref,
        accepted=job.accepted,
        rejected=job.rejected,
        rejections=[{"record": n, "reason": r} for n, r in job.rejections[:100]],
        replayed=replayed,
        log_index=log_index,
    )


# ---- the data tracker's view of subscriptions ------------------------------------------------------------


def subscriptions_covering(subjects: Sequence[str]) -> list[dict[str, Any]]:
    """Subscriptions that deliver these people's records (as residents, or as legal representatives), with
    the same hold-back for covert purposes as single reads."""
    from tongban.registries.models import LegalEntityRecord, PersonRecord, RegistryKind

    places: list[tuple[str, str]] = [
        (RegistryKind.POPULATION, area)
        for area in PersonRecord.objects.filter(id_number__in=subjects).values_list("area_code", flat=True)
    ]
    places += [
        (RegistryKind.LEGAL_ENTITY, area)
        for area in LegalEntityRecord.objects.filter(legal_rep_id_number__in=subjects).values_list(
            "area_code", flat=True
        )
    ]
    if not places:
        return []
    found = tracker.without_held(
        Subscription.objects.filter(
            cancelled_at__isnull=True, resource__registry__kind__in={k for k, _a in places}
        )
    ).select_related("resource__registry", "client__department")
    rows = []
    for subscription in found[:200]:
        kind = subscription.resource.registry.kind
        prefix = area_prefix(subscription.down_to) if subscription.down_to else ""
        if any(k == kind and (area or "").startswith(prefix) for k, area in places):
            rows.append(
                {
                    "at": subscription.created_at,
                    "who": subscription.client.department.name,
                    "what": subscription.resource.name,
                    "fields": subscription.fields,
                    "purpose": subscription.purpose,
                }
            )
    return rows
