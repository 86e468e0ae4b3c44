"""GovStack Digital Registries BB API 1.3: the data endpoints over every registry, and the database
(schema) endpoints. The spec's camelCase paths and the kebab-case ones deployed implementations use are
both served. Every call needs the Information-Mediator-Client header and an OAuth 2 client-credentials
token (scope registries.read or registries.write); writes are for the owning department's systems; other
departments see what the sharing catalogue gives them (unconditional resources over the registry and
their department's grants, masked by grade; registries.access.sharing_policy), the owner everything; every
read of a record is logged for myPersonalDataUsage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.paginator import EmptyPage, Paginator
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Router, Schema
from ninja.errors import HttpError

from tongban.identity.api import ClientScope, govstack_client
from tongban.identity.models import SystemClient

from . import access, reads, services
from .models import Registry, RegistryKind

router = Router(tags=["GovStack Digital Registries BB"])
READ, WRITE = ClientScope("registries.read"), ClientScope("registries.write")


def _registry(request: HttpRequest, name: str, version: str) -> Registry:
    govstack_client(request)
    registry = Registry.objects.select_related("owner").filter(code=name).first()
    if registry is None:
        raise HttpError(404, f"unknown registry {name[:60]}")
    if version != registry.version:
        raise HttpError(
            404, f"registry {name[:60]} has no version {version[:20]} (current: {registry.version})"
        )
    return registry


def _owner(request: HttpRequest, registry: Registry) -> bool:
    client: SystemClient = request.auth
    return client.department_id == registry.owner_id


def _view(request: HttpRequest, registry: Registry) -> access.View | None:
    """None for the owner's systems (everything); otherwise what the sharing catalogue lets the calling
    department see, or 403 when it shares nothing of this registry with it."""
    if _owner(request, registry):
        return None
    view = access.sharing_policy(registry, request.auth.department_id)
    if view is None:
        raise HttpError(
            403,
            "nothing of this registry is shared with your department: "
            "see the resource catalogue (/api/exchange/resources) and file a share request",
        )
    return view


def _queryable(registry: Registry, view: access.View | None, content: dict[str, Any]) -> None:
    """A department may only filter by fields shared with it in clear, as at the gateway
    (``access.refused_filters``; unknown fields are left to the 400)."""
    hidden = access.refused_filters(registry, view, content)
    if hidden:
        raise HttpError(403, "fields not shared in clear with your department: " + ", ".join(hidden[:20]))


def _shown(registry: Registry, record: Any, view: access.View | None) -> dict[str, Any]:
    data = access.as_dict(registry, record, full=True)
    return data if view is None else view.show(data)


def _narrowed(queryset: Any, view: access.View | None) -> Any:
    return queryset if view is None else view.narrow(queryset)


def _log(
    request: HttpRequest,
    registry: Registry,
    records: list[Any],
    operation: str,
    fields: list[str],
    *,
    view: access.View | None,
    query: Any,
    answer: Any,
    response: HttpResponse,
) -> None:
    """Each record read for the person's data-usage view, and the call in the Merkle audit log (keys
    hashed: no personal data in the log), in one transaction (``reads.log_reads``, as for staff reads).
    The answer's receipt goes in headers, as the body is GovStack's (``Tongban-Log-Index``,
    ``Tongban-Request-Hash``, ``Tongban-Response-Hash``, keyed by ``Tongban-Digest-Salt``,
    ``Tongban-Receipt``: where the inclusion proof is served once the next checkpoint is signed)."""
    from tongban.exchange import auditlog

    client: SystemClient = request.auth
    salt = auditlog.new_salt()
    request_hash = auditlog.digest(
        {
            "client": client.application.client_id,
            "registry": registry.code,
            "version": registry.version,
            "operation": operation,
            "query": query,
            "at": timezone.now().isoformat(),
        },
        salt,
    )
    response_hash = auditlog.digest(answer, salt)
    index = reads.log_reads(
        kind="registry_read",
        registry=registry,
        records=records,
        operation=operation,
        fields=fields,
        view=view,
        department=client.department,
        client=client,
        mediator=request.mediator_client,
        entry={"request": request_hash, "response": response_hash},
    )
    response["Tongban-Log-Index"] = str(index)
    response["Tongban-Request-Hash"] = request_hash
    response["Tongban-Response-Hash"] = response_hash
    response["Tongban-Digest-Salt"] = salt
    response["Tongban-Receipt"] = auditlog.receipt_path(index)


def _handle(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except access.AccessError as exc:
        raise HttpError(exc.status, exc.message) from None


def _source(request: HttpRequest) -> str:
    return f"DR API {request.mediator_client}"


class Content(Schema):
    content: dict[str, Any]


class QueryBody(Schema):
    query: Content


class WriteBody(Schema):
    write: Content


class QueryWriteBody(Schema):
    query: Content | None = None
    write: Content


def _paths(*names: str) -> list[str]:
    return [f"/data/{{registryName}}/{{versionNumber}}/{n}" for n in names]


# ---- data --------------------------------------------------------------------------------------------


@router.get("/data/{registryName}/{versionNumber}", auth=READ, summary="list (search, filter, page)")
def list_records(
    request: HttpRequest,
    response: HttpResponse,
    registryName: str,
    versionNumber: str,
    search: str = "",
    filter: str = "",
    ordering: str = "",
    page: int = 1,
    pageSize: int = 10,
) -> dict[str, Any]:
    registry = _registry(request, registryName, versionNumber)
    filters = {k.removeprefix("query."): v for k, v in request.GET.items() if k.startswith("query.")}
    if filter and filter not in access.field_names(registry):
        raise HttpError(400, f"unknown filter field {filter[:60]}")
    if not 1 <= pageSize <= 100 or page < 1:
        raise HttpError(400, "page must be ≥ 1 and pageSize between 1 and 100")
    view = _view(request, registry)
    _queryable(registry, view, filters)
    queryset = _handle(lambda: access.search(registry, search[:100], filters, ordering, view=view))
    queryset = _narrowed(queryset, view)
    paginator = Paginator(queryset, pageSize)
    try:
        records = list(paginator.page(page))
    except EmptyPage:
        records = []
    base = request.build_absolute_uri(request.path)
    answer = {
        "count": paginator.count,
        "next": f"{base}?page={page + 1}&pageSize={pageSize}" if page * pageSize < paginator.count else None,
        "previous": f"{base}?page={page - 1}&pageSize={pageSize}" if page > 1 else None,
        "results": [_shown(registry, r, view) for r in records],
    }
    _log(
        request,
        registry,
        records,
        "list",
        [],
        view=view,
        query={
            "search": search,
            "filter": filter,
            "query": filters,
            "ordering": ordering,
            "page": page,
            "pageSize": pageSize,
        },
        answer=answer,
        response=response,
    )
    return answer


@router.post(_paths("create")[0], auth=WRITE, summary="create")
def create(request: HttpRequest, registryName: str, versionNumber: str, payload: WriteBody) -> dict[str, Any]:
    registry = _registry(request, registryName, versionNumber)
    record = _handle(
        lambda: services.record_create(
            client=request.auth,
            registry=registry,
            content=payload.write.content,
            source=_source(request),
            request=request,
        )
    )
    return {"content": access.as_dict(registry, record, full=True)}


@router.post(_paths("exists")[0], auth=READ, summary="exists")
def exists(
    request: HttpRequest, response: HttpResponse, registryName: str, versionNumber: str, payload: QueryBody
) -> dict[str, Any]:
    registry = _registry(request, registryName, versionNumber)
    view = _view(request, registry)
    _queryable(registry, view, payload.query.content)
    record = _handle(lambda: _narrowed(access.matching(registry, payload.query.content), view).first())
    found = record is not None
    answer = {
        "answer": {"status": found, "message": "Object found from database" if found else "Object not found"}
    }
    # A match tells the caller something about the person: in their data-usage view like any read.
    _log(
        request,
        registry,
        [record] if found else [],
        "exists",
        sorted(payload.query.content),
        view=view,
        query=payload.query.content,
        answer=answer,
        response=response,
    )
    return answer


@router.post(_paths("read")[0], auth=READ, summary="read one record")
def read(
    request: HttpRequest, response: HttpResponse, registryName: str, versionNumber: str, payload: QueryBody
) -> dict[str, Any]:
    registry = _registry(request, registryName, versionNumber)
    view = _view(request, registry)
    _queryable(registry, view, payload.query.content)
    record = _handle(lambda: _narrowed(access.matching(registry, payload.query.content), view).first())
    if record is None:
        raise HttpError(404, "no record found")
    answer = {"content": _shown(registry, record, view)}
    _log(
        request,
        registry,
        [record],
        "read",
        list(answer["content"]),
        view=view,
        query=payload.query.content,
        answer=answer,
        response=response,
    )
    return answer


def _update(
    request: HttpRequest, registryName: str, versionNumber: str, payload: QueryWriteBody, many: bool
) -> Any:
    registry = _registry(request, registryName, versionNumber)
    if payload.query is None:
        raise HttpError(400, "query is required")
    _handle(
        lambda: services.record_update(
            client=request.auth,
            registry=registry,
            query=payload.query.content,
            content=payload.write.content,
            source=_source(request),
            many=many,
            request=request,
        )
    )
    return HttpResponse(status=200)


@router.put(_paths("update")[0], auth=WRITE, summary="update one record")
def update(request: HttpRequest, registryName: str, versionNumber: str, payload: QueryWriteBody) -> Any:
    return _update(request, registryName, versionNumber, payload, many=False)


@router.put(_paths("updateEntries")[0], auth=WRITE, summary="updateEntries", operation_id="updateEntries")
@router.put(
    _paths("update-entries")[0],
    auth=WRITE,
    summary="update-entries (deployed spelling)",
    operation_id="updateEntriesKebab",
)
def update_entries(
    request: HttpRequest, registryName: str, versionNumber: str, payload: QueryWriteBody
) -> Any:
    return _update(request, registryName, versionNumber, payload, many=True)


@router.post(_paths("updateOrCreate")[0], auth=WRITE, summary="updateOrCreate", operation_id="updateOrCreate")
@router.post(
    _paths("update-or-create")[0],
    auth=WRITE,
    summary="update-or-create (deployed spelling)",
    operation_id="updateOrCreateKebab",
)
def update_or_create(
    request: HttpRequest, registryName: str, versionNumber: str, payload: QueryWriteBody
) -> dict[str, Any]:
    registry = _registry(request, registryName, versionNumber)
    query = (
        payload.query.content
        if payload.query
        else {registry.key_field: payload.write.content.get(registry.key_field)}
    )
    record, _created = _handle(
        lambda: services.record_update_or_create(
            client=request.auth,
            registry=registry,
            query=query,
            content=payload.write.content,
            source=_source(request),
            request=request,
        )
    )
    return {"content": access.as_dict(registry, record, full=True)}


@router.delete("/data/{registryName}/{versionNumber}/{ID}/delete", auth=WRITE, summary="delete")
def delete(request: HttpRequest, registryName: str, versionNumber: str, ID: str) -> HttpResponse:
    registry = _registry(request, registryName, versionNumber)
    _handle(lambda: services.record_delete(client=request.auth, registry=registry, key=ID, request=request))
    return HttpResponse(status=204)


@router.get(
    "/data/{registryName}/{versionNumber}/{uuid}/readValue/{field}",
    auth=READ,
    summary="readValue",
    operation_id="readValue",
)
@router.get(
    "/data/{registryName}/{versionNumber}/{uuid}/read-value/{field}",
    auth=READ,
    summary="read-value",
    operation_id="readValueKebab",
)
def read_value(
    request: HttpRequest, response: HttpResponse, registryName: str, versionNumber: str, uuid: str, field: str
) -> Any:
    """``field`` is ``<name>.<ext>``: ``.json`` answers {"value": …}, anything else the bare value as text."""
    registry = _registry(request, registryName, versionNumber)
    name, _dot, ext = field.rpartition(".")
    name = name or ext
    view = _view(request, registry)
    record = access.by_key(registry, uuid)
    content = _shown(registry, record, view) if record is not None else {}
    if not content:
        raise HttpError(404, "no record found")
    if name not in content:
        raise HttpError(404, f"no field {name[:60]} (or not shared with your department)")
    if ext != "json":  # the bare value: this response is the one sent
        answer: Any = "" if content[name] is None else str(content[name])
        response = HttpResponse(answer, content_type="text/plain; charset=utf-8")
    else:
        answer = {"value": content[name]}
    _log(
        request,
        registry,
        [record],
        "read_value",
        [name],
        view=view,
        query={"key": uuid, "field": field},
        answer=answer,
        response=response,
    )
    return answer if ext == "json" else response


@router.get(
    "/data/myPersonalDataUsage",
    auth=READ,
    summary="myPersonalDataUsage: who read a person's data",
    operation_id="DPU",
)
@router.get(
    "/data/my-personal-data-usage",
    auth=READ,
    summary="my-personal-data-usage (deployed spelling)",
    operation_id="DPUKebab",
)
def personal_data_usage(request: HttpRequest, userId: str, databaseId: str) -> list[dict[str, Any]]:
    """What the person sees of who read their data in this registry (the spec's "allows a user to see who
    has read their personal data"), through it or through the gateway: the data tracker's selector, so a
    read held back for a covert purpose is left out for every caller, whichever department it is."""
    from tongban.exchange import tracker

    govstack_client(request)
    if not userId or len(userId) > 18:
        raise HttpError(400, "invalid userId")
    registry = Registry.objects.filter(code=databaseId).first()
    if registry is None:
        raise HttpError(404, "unknown database")
    reads = tracker.visible_reads([userId], registry=registry, limit=500)
    if not reads:
        raise HttpError(404, "no reads of this person's data")
    return [
        {
            "id": r.id,
            "readerId": r.client.application.client_id if r.client else "",
            "readerInitials": "",
            "readerInstitutionId": r.department.uscc if r.department else "",
            "readerInstitutionName": r.department.name if r.department else "",
            "readerApplicationName": r.client.application.name if r.client else r.mediator,
            "searchDateTime": r.at.isoformat(),
        }
        for r in reads
    ]


# ---- databases (schemas) -------------------------------------------------------------------------------


def _database(registry: Registry) -> dict[str, Any]:
    schema = registry.schema if registry.kind == RegistryKind.CUSTOM else _typed_schema(registry)
    return {
        "id": registry.pk,
        "code": registry.code,
        "name": registry.name,
        "version": registry.version,
        "owner": registry.owner.name,
        "keyField": registry.key_field,
        "schema": schema,
    }


def _typed_schema(registry: Registry) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: {"type": "string"} for name in access.field_names(registry)},
        "required": [registry.key_field],
    }


@router.get("/databases", auth=READ, summary="databases: every registry and its schema version")
def databases(request: HttpRequest) -> list[dict[str, Any]]:
    govstack_client(request)
    return [_database(r) for r in Registry.objects.select_related("owner")]


@router.post(
    "/database/modify", auth=WRITE, summary="database modify: create or change an operator-defined registry"
)
def database_modify(request: HttpRequest) -> dict[str, Any]:
    import json

    govstack_client(request)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise HttpError(400, "body is not JSON") from None
    if not isinstance(body, dict):
        raise HttpError(400, "body must be a JSON object")
    registry = _handle(
        lambda: services.registry_define(
            client=request.auth,
            code=str(body.get("code") or ""),
            schema=body.get("schema") or {},
            catalog_name=str(body.get("catalogName") or ""),
            request=request,
        )
    )
    return _database(registry)


@router.get("/database/{id}", auth=READ, summary="database: one registry with its schema")
def database(request: HttpRequest, id: int) -> dict[str, Any]:
    govstack_client(request)
    registry = Registry.objects.select_related("owner").filter(pk=id).first()
    if registry is None:
        raise HttpError(404, "unknown database")
    return _database(registry)


@router.delete("/database/{id}", auth=WRITE, summary="database delete (operator-defined registries only)")
def database_delete(request: HttpRequest, id: int) -> str:
    govstack_client(request)
    registry = Registry.objects.filter(pk=id).first()
    if registry is None:
        raise HttpError(404, "unknown database")
    _handle(lambda: services.registry_delete(client=request.auth, registry=registry, request=request))
    return "Success"
