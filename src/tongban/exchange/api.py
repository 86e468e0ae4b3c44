"""Data-sharing JSON API: the resource catalogue, the gateway, and the audit log's checkpoints and proofs.

System clients authenticate with an OAuth 2 client-credentials token: scope ``exchange.read`` for the
catalogue, the gateway and the proofs. Every gateway call, refused or not, is appended to the audit log.
Errors are ``{"code": …, "message": …}`` with the HTTP status documented in docs/exchange.md."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db.models import Q
from django.http import HttpRequest, JsonResponse
from ninja import Router, Schema

from tongban.identity.api import MEDIATOR, ClientScope

from . import auditlog, gateway
from .models import Checkpoint, Resource

router = Router(tags=["data sharing"])


class GatewayScope(ClientScope):
    """ClientScope that logs the calls it refuses (forged, expired or missing tokens) to the audit log."""

    def __call__(self, request: HttpRequest) -> Any:
        result = super().__call__(request)
        if not result:
            header = request.headers.get("Authorization", "")
            token = header.partition(" ")[2]
            gateway.log_refused_token(
                token_hint=hashlib.sha256(token.encode()).hexdigest()[:16] if token else "",
                path=request.path,
                mediator=request.headers.get("Information-Mediator-Client", "")[:300],
            )
        return result


READ = GatewayScope("exchange.read")


def _error(exc: gateway.GatewayError) -> JsonResponse:
    return JsonResponse({"code": exc.code, "message": exc.message}, status=exc.status)


def _mediator(request: HttpRequest) -> str:
    header = request.headers.get("Information-Mediator-Client", "")
    return header if MEDIATOR.match(header) else ""


# ---- catalogue ------------------------------------------------------------------------------------------


def resource_json(resource: Resource) -> dict[str, Any]:
    return {
        "code": resource.code,
        "name": resource.name,
        "owner": {"code": resource.owner.code, "name": resource.owner.name},
        "theme": resource.theme,
        "description": resource.description,
        "share_type": resource.share_type,
        "share_condition": resource.share_condition,
        "legal_basis": resource.legal_basis,
        "open_type": resource.open_type,
        "update_frequency": resource.update_frequency,
        "share_methods": [m for m, on in (("api", resource.via_api), ("bulk", resource.via_bulk)) if on],
        "fields": [
            {"name": f.name, "label": f.label, "type": f.data_type, "sensitivity": f.sensitivity}
            for f in resource.fields.all()
        ],
    }


@router.get("/resources", auth=READ, summary="Search the resource catalogue (q, department, theme)")
def resources(
    request: HttpRequest, q: str = "", department: str = "", theme: str = "", share_type: str = ""
) -> list[dict[str, Any]]:
    found = Resource.objects.filter(is_active=True).select_related("owner").prefetch_related("fields")
    if q:
        found = found.filter(
            Q(name__icontains=q[:50]) | Q(description__icontains=q[:50]) | Q(code__icontains=q[:50])
        )
    if department:
        found = found.filter(owner__code=department)
    if theme:
        found = found.filter(theme=theme)
    if share_type:
        found = found.filter(share_type=share_type)
    return [resource_json(r) for r in found[:200]]


@router.get("/resources/{code}", auth=READ, summary="One catalogue entry with its fields")
def resource_detail(request: HttpRequest, code: str) -> Any:
    resource = Resource.objects.select_related("owner").prefetch_related("fields").filter(code=code).first()
    if resource is None:
        return JsonResponse({"code": "unknown_resource", "message": "no such resource"}, status=404)
    return resource_json(resource)


# ---- gateway ------------------------------------------------------------------------------------------------


class QueryIn(Schema):
    filter: dict[str, Any]
    fields: list[str] | None = None
    purpose: str = ""


def _fields(text: str) -> list[str] | None:
    names = [f.strip() for f in text.split(",") if f.strip()]
    return names or None


@router.get(
    "/gateway/{code}/records/{key}",
    auth=READ,
    summary="Read one record by key through the grant (fields=a,b; purpose=…); answers with a receipt",
)
def gateway_record(request: HttpRequest, code: str, key: str, fields: str = "", purpose: str = "") -> Any:
    call = gateway.Call(
        client=request.auth,
        resource_code=code,
        key=key[:120],
        fields=_fields(fields),
        purpose=purpose[:300],
        mediator=_mediator(request),
    )
    try:
        return JsonResponse(gateway.query(call))
    except gateway.GatewayError as exc:
        return _error(exc)


@router.post(
    "/gateway/{code}/query",
    auth=READ,
    summary="Find records by field values through the grant (at most 100); answers with a receipt",
)
def gateway_query(request: HttpRequest, code: str, payload: QueryIn) -> Any:
    call = gateway.Call(
        client=request.auth,
        resource_code=code,
        filters=payload.filter,
        fields=payload.fields,
        purpose=payload.purpose[:300],
        mediator=_mediator(request),
    )
    try:
        return JsonResponse(gateway.query(call))
    except gateway.GatewayError as exc:
        return _error(exc)


# ---- audit log ------------------------------------------------------------------------------------------


def _log_error(exc: auditlog.LogError) -> JsonResponse:
    return JsonResponse({"code": "not_available", "message": str(exc)}, status=404)


@router.get("/audit/checkpoint", summary="The latest signed checkpoint of the audit log (public)")
def checkpoint_latest(request: HttpRequest) -> Any:
    checkpoint = auditlog.latest_checkpoint()
    if checkpoint is None:
        return JsonResponse({"code": "not_available", "message": "no checkpoint yet"}, status=404)
    return auditlog.checkpoint_json(checkpoint)


@router.get("/audit/checkpoints/{size}", summary="The signed checkpoint of one tree size (public)")
def checkpoint_of(request: HttpRequest, size: int) -> Any:
    checkpoint = Checkpoint.objects.filter(tree_size=size).first()
    if checkpoint is None:
        return JsonResponse({"code": "not_available", "message": "no checkpoint of that size"}, status=404)
    return auditlog.checkpoint_json(checkpoint)


@router.get(
    "/audit/receipts/{index}",
    auth=READ,
    summary="An entry with its inclusion proof under the latest (or a given) checkpoint: for tongban audit verify",
)
def receipt(request: HttpRequest, index: int, tree_size: int = 0) -> Any:
    checkpoint = Checkpoint.objects.filter(tree_size=tree_size).first() if tree_size else None
    if tree_size and checkpoint is None:
        return JsonResponse({"code": "not_available", "message": "no checkpoint of that size"}, status=404)
    try:
        return auditlog.receipt_bundle(index, checkpoint)
    except auditlog.LogError as exc:
        return _log_error(exc)


@router.get(
    "/audit/consistency",
    summary="Consistency proof between two signed checkpoints (public): the log was only appended to",
)
def consistency(request: HttpRequest, first: int, second: int) -> Any:
    try:
        return auditlog.consistency_bundle(first, second)
    except auditlog.LogError as exc:
        return _log_error(exc)
