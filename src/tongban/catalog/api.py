"""Catalogue JSON API, and the GovStack Registration BB service endpoints (services and eForms)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from tongban.identity.models import Department

from . import search, selectors, services
from .constants import VersionStatus
from .models import ServiceItem, ServiceItemVersion

router = Router(tags=["catalogue"])
govstack = Router(tags=["GovStack Registration BB: services"])
log = logging.getLogger(__name__)


class MaterialOut(Schema):
    code: str
    name: str
    form: str
    required: bool
    condition: dict | None
    condition_label: str
    formats: list[str]
    max_size_mb: int
    licence_type_code: str
    shared_resource_code: str


class ItemSummary(Schema):
    implementation_code: str
    basic_code: str
    service_id: uuid.UUID
    name: str
    item_type: str
    department: str
    applicant_types: list[str]
    committed_days: int
    online_depth: str


class ItemDetail(ItemSummary):
    version: int
    summary: str
    legal_basis: str
    conditions: str
    statutory_days: int
    fee_free: bool
    fee_description: str
    channels: list[str]
    max_visits: int
    result_name: str
    result_licence_type: str
    form_schema: dict
    workflow: dict
    materials: list[MaterialOut]
    themes: list[str]


def _summary(item: ServiceItem) -> dict[str, Any]:
    v = item.published_version
    return {
        "implementation_code": item.implementation_code,
        "basic_code": item.basic_code,
        "service_id": item.uuid,
        "name": v.name,
        "item_type": v.item_type,
        "department": item.department.code,
        "applicant_types": v.applicant_types,
        "committed_days": v.committed_days,
        "online_depth": v.online_depth,
    }


class ItemFilters(Schema):
    q: str = ""
    department: str = ""
    theme: str = ""
    applicant_type: str = Field("", pattern="^(|person|organisation)$")
    area: str = Field(
        "", pattern="^([0-9]{6}|[0-9]{9})?$", description="GB/T 2260 code: items of that area and above"
    )
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)


@router.get("/items", response=list[ItemSummary], summary="Published service items (search with q)")
def list_items(request: HttpRequest, filters: Query[ItemFilters]) -> list[dict[str, Any]]:
    department = Department.objects.filter(code=filters.department).first() if filters.department else None
    if filters.q:
        hits = search.search(
            filters.q,
            area_code=filters.area or None,
            applicant_type=filters.applicant_type or None,
            department_id=department.pk if department else None,
            theme=filters.theme or None,
            limit=filters.offset + filters.limit,
        )
        ids = [h.object_id for h in hits if h.kind == "item"][filters.offset :]
        items = {i.pk: i for i in selectors.published_items().filter(pk__in=ids)}
        return [_summary(items[i]) for i in ids if i in items]
    qs = selectors.items_for_browse(
        audience={"person": "person", "organisation": "organisation"}.get(filters.applicant_type),
        theme=filters.theme or None,
        department=department,
    )
    return [_summary(i) for i in qs[filters.offset : filters.offset + filters.limit]]


@router.get(
    "/items/{code}", response=ItemDetail, summary="One published item with materials, form and workflow"
)
def get_item(request: HttpRequest, code: str) -> dict[str, Any]:
    item = selectors.published_item(code)
    if item is None:
        raise HttpError(404, "service item not found")
    v = item.published_version
    content = services.content_of(v)
    return {
        **_summary(item),
        **content.fields,
        "version": v.number,
        "materials": content.materials,
        "themes": content.themes,
    }


class LifeEventOut(Schema):
    code: str
    name: str
    audience: str
    summary: str
    items: list[str]


class LifeEventDetail(LifeEventOut):
    questions: dict
    merged_form: dict
    field_sources: dict[str, list[list[str]]]
    materials: list[dict]


@router.get("/life-events", response=list[LifeEventOut], summary="Published bundles (一件事)")
def list_life_events(request: HttpRequest) -> list[dict[str, Any]]:
    events = selectors.published_life_events().prefetch_related("entries__item")
    return [
        {
            "code": e.code,
            "name": e.name,
            "audience": e.audience,
            "summary": e.summary,
            "items": [x.item.implementation_code for x in e.entries.all()],
        }
        for e in events
    ]


@router.get(
    "/life-events/{code}",
    response=LifeEventDetail,
    summary="A bundle with its merged form; pass answers as query parameters to see what is included",
)
def get_life_event(request: HttpRequest, code: str) -> dict[str, Any]:
    event = selectors.life_event(code)
    if event is None:
        raise HttpError(404, "life event not found")
    answers = {k: v.lower() in {"1", "true", "yes"} for k, v in request.GET.items()}
    merged = services.merged_form(event, answers or None)
    return {
        "code": event.code,
        "name": event.name,
        "audience": event.audience,
        "summary": event.summary,
        "items": [v.item.implementation_code for v in merged.items],
        "questions": event.questions,
        "merged_form": merged.schema,
        "field_sources": {k: [list(s) for s in v] for k, v in merged.sources.items()},
        "materials": merged.materials,
    }


@router.get("/suggest", response=list[str], summary="Suggestions while typing (Chinese, pinyin or initials)")
def suggest(request: HttpRequest, q: str = "") -> list[str]:
    return search.suggest(q[:60])


# ---- GovStack Registration BB: /services, /services/{serviceId}, /services/{serviceId}/eForms, /eForms/{eFormId}


class KeyValue(Schema):
    code: str
    value: str


class GovStackService(Schema):
    id: uuid.UUID
    name: str
    version: str
    type: str
    isExecutable: bool
    isClosed: bool
    description: str
    serviceBody: list[KeyValue]


class EFormListItem(Schema):
    eFormId: str
    name: str
    description: str
    version: str
    latest: bool


class EForm(EFormListItem):
    schema_: dict = Field(..., alias="schema")


def _mediator(request: HttpRequest) -> None:
    client = request.headers.get("Information-Mediator-Client")
    if client:
        log.info("govstack call", extra={"mediator_client": client[:200], "path": request.path})


def _service(item: ServiceItem) -> dict[str, Any]:
    v = item.published_version
    body = {
        "implementationCode": item.implementation_code,
        "basicCode": item.basic_code,
        "department": item.department.name,
        "itemType": v.get_item_type_display(),
        "legalBasis": v.legal_basis,
        "statutoryDays": str(v.statutory_days),
        "committedDays": str(v.committed_days),
        "onlineDepth": v.online_depth,
        "result": v.result_name,
    }
    return {
        "id": item.uuid,
        "name": v.name,
        "version": str(v.number),
        "type": "Public",
        "isExecutable": v.online_depth in {"full_online", "precheck"},
        "isClosed": False,
        "description": v.summary,
        "serviceBody": [{"code": k, "value": val} for k, val in body.items()],
    }


def _item_by_uuid(service_id: str) -> ServiceItem:
    try:
        key = uuid.UUID(service_id)
    except ValueError:
        raise HttpError(404, "service not found") from None
    item = selectors.published_items().filter(uuid=key).first()
    if item is None:
        raise HttpError(404, "service not found")
    return item


def _eform(version: ServiceItemVersion) -> dict[str, Any]:
    return {
        "eFormId": str(version.uuid),
        "name": version.name,
        "description": version.summary,
        "version": str(version.number),
        "latest": version.status == VersionStatus.PUBLISHED,
    }


@govstack.get("/services", response=list[GovStackService], summary="List services (name filters by text)")
def gs_services(request: HttpRequest, name: str = "") -> list[dict[str, Any]]:
    _mediator(request)
    qs = selectors.published_items()
    if name:
        qs = qs.filter(published_version__name__icontains=name[:100])
    return [_service(i) for i in qs[:500]]


@govstack.get("/services/{serviceId}", response=GovStackService, summary="A service's details")
def gs_service(request: HttpRequest, serviceId: str) -> dict[str, Any]:
    _mediator(request)
    return _service(_item_by_uuid(serviceId))


@govstack.get(
    "/services/{serviceId}/eForms", response=list[EFormListItem], summary="The e-forms of a service"
)
def gs_service_eforms(request: HttpRequest, serviceId: str) -> list[dict[str, Any]]:
    _mediator(request)
    item = _item_by_uuid(serviceId)
    versions = item.versions.filter(status__in=[VersionStatus.PUBLISHED, VersionStatus.SUPERSEDED]).order_by(
        "-number"
    )
    return [_eform(v) for v in versions]


@govstack.get("/eForms/{eFormId}", response=EForm, by_alias=True, summary="One e-form with its JSON Schema")
def gs_eform(request: HttpRequest, eFormId: str) -> dict[str, Any]:
    _mediator(request)
    try:
        key = uuid.UUID(eFormId)
    except ValueError:
        raise HttpError(404, "e-form not found") from None
    version = ServiceItemVersion.objects.filter(
        uuid=key, status__in=[VersionStatus.PUBLISHED, VersionStatus.SUPERSEDED]
    ).first()
    if version is None:
        raise HttpError(404, "e-form not found")
    return {**_eform(version), "schema": version.form_schema}
