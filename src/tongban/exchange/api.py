"""Data-sharing JSON API: the resource catalogue, the gateway, and the audit log's checkpoints and proofs.

System clients authenticate with an OAuth 2 client-credentials token: scope ``exchange.read`` for the
catalogue, the gateway and the proofs. Every gateway call, refused or not, is appended to the audit log.
Errors are ``{"code": …, "message": …}`` with the HTTP status documented in docs/exchange.md."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Router, Schema

from tongban.identity.api import MEDIATOR, ClientScope

from . import auditlog, bulk, gateway
from .models import Checkpoint, Resource, Subscription

router = Router(tags=["data sharing"])


class GatewayScope(ClientScope):
    """ClientScope that logs the calls it refuses (forged, expired or missing tokens) to the audit log."""

    def __call__(self, request: HttpRequest) -> Any:
        result = super().__call__(request)
        if not result:
            log_refusal(
                request.headers.get("Authorization", ""),
                request.path,
                request.headers.get("Information-Mediator-Client", ""),
            )
        return result


def log_refusal(authorization: str, path: str, mediator: str) -> None:
    """A refused token in the audit log: a 16-hex hash of the token, never the token itself."""
    token = authorization.partition(" ")[2]
    gateway.log_refused_token(
        token_hint=hashlib.sha256(token.encode()).hexdigest()[:16] if token else "",
        path=path,
        mediator=mediator[:300],
    )


READ = GatewayScope("exchange.read")
WRITE = GatewayScope("exchange.write")
# Digital Registries API clients fetch the proofs of their reads' receipts with the token they read with.
REGISTRY_READ = ClientScope("registries.read")


def _error(exc: gateway.GatewayError) -> JsonResponse:
    return JsonResponse({"code": exc.code, "message": exc.message}, status=exc.status)


def _mediator(request: HttpRequest) -> str:
    return mediator_of(request.headers.get("Information-Mediator-Client", ""))


def mediator_of(header: str) -> str:
    return header[:300] if MEDIATOR.match(header) else ""


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


def gateway_fields(text: str) -> list[str] | None:
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
        fields=gateway_fields(fields),
        purpose=purpose[:300],
        mediator=_mediator(request),
    )
    status, body = gateway.answer(call)
    return JsonResponse(body, status=status)


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
    status, body = gateway.answer(call)
    return JsonResponse(body, status=status)


# ---- bulk subscription, return flow and aggregation ----------------------------------------------------------


class SubscriptionIn(Schema):
    resource: str
    purpose: str
    fields: list[str] | None = None
    down_to: str = ""


class AckIn(Schema):
    seq: int


class BatchIn(Schema):
    batch_ref: str
    records: list[dict[str, Any]]


def subscription_json(subscription: Subscription) -> dict[str, Any]:
    return {
        "id": subscription.pk,
        "resource": subscription.resource.code,
        "fields": subscription.fields,
        "purpose": subscription.purpose,
        "down_to": subscription.down_to,
        "created_at": subscription.created_at.isoformat(),
        "snapshot_seq": subscription.snapshot_seq,
        "delivered_seq": subscription.delivered_seq,
        "acknowledged_seq": subscription.acknowledged_seq,
        "cancelled_at": subscription.cancelled_at.isoformat() if subscription.cancelled_at else None,
        "feed": f"/api/exchange/subscriptions/{subscription.pk}/feed",
    }


def _subscription(request: HttpRequest, pk: int) -> Subscription | None:
    return (
        Subscription.objects.select_related("resource", "client__application", "client__department")
        .filter(pk=pk, client=request.auth)
        .first()
    )


_NO_SUBSCRIPTION = {"code": "unknown_subscription", "message": "no such subscription of this client"}


@router.post("/subscriptions", auth=READ, summary="Subscribe to a resource offered for bulk subscription")
def subscription_create(request: HttpRequest, payload: SubscriptionIn) -> Any:
    try:
        subscription = bulk.subscription_create(
            client=request.auth,
            resource_code=payload.resource,
            fields=payload.fields,
            purpose=payload.purpose,
            down_to=payload.down_to,
        )
    except gateway.GatewayError as exc:
        return _error(exc)
    return JsonResponse(subscription_json(subscription), status=201)


@router.get("/subscriptions", auth=READ, summary="This client's subscriptions")
def subscription_list(request: HttpRequest) -> list[dict[str, Any]]:
    found = Subscription.objects.select_related("resource").filter(client=request.auth)
    return [subscription_json(s) for s in found[:500]]


@router.get("/subscriptions/{pk}", auth=READ, summary="One subscription with its cursors")
def subscription_detail(request: HttpRequest, pk: int) -> Any:
    subscription = _subscription(request, pk)
    if subscription is None:
        return JsonResponse(_NO_SUBSCRIPTION, status=404)
    return subscription_json(subscription)


@router.get(
    "/subscriptions/{pk}/feed",
    auth=READ,
    summary="The next batch of the change feed as NDJSON (after=cursor, default the acknowledged one; limit ≤ 50000)",
)
def subscription_feed(request: HttpRequest, pk: int, after: int | None = None, limit: int = 10_000) -> Any:
    subscription = _subscription(request, pk)
    if subscription is None:
        return JsonResponse(_NO_SUBSCRIPTION, status=404)
    try:
        batch = bulk.deliver(subscription, after=after, limit=limit)
    except gateway.GatewayError as exc:
        return _error(exc)
    response = HttpResponse(batch.body, content_type="application/x-ndjson; charset=utf-8")
    response["Tongban-Count"] = str(batch.count)
    response["Tongban-After"] = str(batch.after)
    response["Tongban-Next-After"] = str(batch.next_after)
    response["Tongban-More"] = "true" if batch.more else "false"
    response["Tongban-Phase"] = batch.phase
    response["Tongban-Response-Hash"] = batch.response_hash
    response["Tongban-Digest-Salt"] = batch.salt
    response["Tongban-Log-Index"] = str(batch.log_index)
    return response


@router.post("/subscriptions/{pk}/ack", auth=READ, summary="Acknowledge everything up to a delivered number")
def subscription_ack(request: HttpRequest, pk: int, payload: AckIn) -> Any:
    subscription = _subscription(request, pk)
    if subscription is None:
        return JsonResponse(_NO_SUBSCRIPTION, status=404)
    try:
        return subscription_json(bulk.subscription_ack(subscription, payload.seq))
    except gateway.GatewayError as exc:
        return _error(exc)


@router.delete("/subscriptions/{pk}", auth=READ, summary="Cancel a subscription")
def subscription_cancel(request: HttpRequest, pk: int) -> Any:
    subscription = _subscription(request, pk)
    if subscription is None:
        return JsonResponse(_NO_SUBSCRIPTION, status=404)
    return subscription_json(bulk.subscription_cancel(subscription))


@router.post(
    "/resources/{code}/batches",
    auth=WRITE,
    summary="Aggregation (汇聚): push a batch of records up into the registry behind a resource, once per batch_ref",
)
def resource_batch(request: HttpRequest, code: str, payload: BatchIn) -> Any:
    try:
        result = bulk.push(
            client=request.auth, resource_code=code, batch_ref=payload.batch_ref, records=payload.records
        )
    except gateway.GatewayError as exc:
        return _error(exc)
    return JsonResponse(
        {
            "batch_ref": result.batch_ref,
            "accepted": result.accepted,
            "rejected": result.rejected,
            "rejections": result.rejections,
            "replayed": result.replayed,
            "log_index": result.log_index,
            "request_hash": result.request_hash,
            "salt": result.salt,
        },
        status=200 if result.replayed else 201,
    )


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
    auth=[REGISTRY_READ, READ],
    summary="An entry's inclusion proof under the latest (or a given) checkpoint, for tongban audit verify: "
    "with the entry for the client's own calls, with its leaf hash only for any other",
)
def receipt(request: HttpRequest, index: int, tree_size: int = 0) -> Any:
    checkpoint = Checkpoint.objects.filter(tree_size=tree_size).first() if tree_size else None
    if tree_size and checkpoint is None:
        return JsonResponse({"code": "not_available", "message": "no checkpoint of that size"}, status=404)
    try:
        return auditlog.receipt_for(index, request.auth.application.client_id, checkpoint)
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
