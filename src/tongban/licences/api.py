"""Licence JSON API: verification (public, rate-limited), the public key directory, a licence's status."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema
from ninja.errors import HttpError

from tongban.core.services import client_ip
from tongban.core.throttle import throttle_client

from . import services
from .models import Licence
from .verify import from_qr

router = Router(tags=["licences"])


class VerifyOut(Schema):
    verdict: str
    valid: bool
    reason: str
    identifier: str | None
    name: str | None
    issuer: str | None
    key_id: str | None


class VerifyIn(Schema):
    licence: dict[str, Any] | None = None
    proof: dict[str, Any] | None = None
    qr: str | None = None


@router.post("/verify", response=VerifyOut, summary="Verify a licence file (the signed JSON) or a QR text")
def verify(request: HttpRequest, payload: VerifyIn) -> dict[str, Any]:
    if not throttle_client(request, "licence-verify", limit=120, window_seconds=60):
        raise HttpError(429, "too many verifications, try again in a minute")
    if payload.qr:
        try:
            document: Any = from_qr(payload.qr)
        except (ValueError, TypeError):
            document = None
    else:
        document = {"licence": payload.licence, "proof": payload.proof}
    return services.licence_verify(document, by=f"API {client_ip(request) or ''}").as_dict()


@router.get("/keys", summary="The public key directory: every seal key and when it was valid")
def keys(request: HttpRequest) -> HttpResponse:
    directory = services.key_directory(with_statuses=request.GET.get("statuses") == "1")
    return HttpResponse(directory.to_json(), content_type="application/json")


class StatusOut(Schema):
    identifier: str
    name: str
    issuer: str
    status: str
    valid_to: str | None


@router.get(
    "/status/{identifier}", response=StatusOut, summary="A licence's current status (no personal data)"
)
def status(request: HttpRequest, identifier: str) -> dict[str, Any]:
    licence = Licence.objects.select_related("issuer").filter(identifier=identifier).first()
    if licence is None:
        raise HttpError(404, "unknown licence")
    return {
        "identifier": licence.identifier,
        "name": licence.name,
        "issuer": licence.issuer.name,
        "status": licence.status,
        "valid_to": licence.valid_to.isoformat() if licence.valid_to else None,
    }


__all__ = ["router"]
