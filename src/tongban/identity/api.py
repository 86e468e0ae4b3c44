"""Identity JSON API: public directories, and person verification for system clients (OAuth 2 scopes)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema
from ninja.errors import HttpError
from ninja.security import HttpBearer
from oauth2_provider.models import AccessToken
from oauth2_provider.oauth2_backends import get_oauthlib_core

from tongban.core import codes
from tongban.core.cache import TimedCache
from tongban.core.constants import AuditEventType
from tongban.core.services import audit_record

from .models import Area, Department, Person, SystemClient

router = Router(tags=["identity"])


MEDIATOR = re.compile(r"^[^/\s]{1,64}/[^/\s]{1,64}/[^/\s]{1,64}/[^/\s]{1,64}$")


def govstack_client(request: HttpRequest) -> SystemClient | None:
    """The calling system of a GovStack endpoint, after checking the Information-Mediator-Client header
    (INSTANCE/CLASS/MEMBER/SUBSYSTEM), which every call must send and which every audit record names."""
    header = request.headers.get("Information-Mediator-Client", "")
    if not MEDIATOR.match(header):
        raise HttpError(400, "Information-Mediator-Client header required: INSTANCE/CLASS/MEMBER/SUBSYSTEM")
    request.mediator_client = header
    return getattr(request, "auth", None)


class ClientScope(HttpBearer):
    """Bearer token from the OAuth 2 client-credentials flow, carrying every scope listed.

    A checked token is remembered by this process for TOKEN_CACHE_SECONDS (never past its expiry): system
    clients send the same token for hours, and the lookup was a tenth of a submission's cost. A revoked
    token therefore stops working within that many seconds."""

    TOKEN_CACHE_SECONDS = 5.0
    # Token checksum -> (expiry, scopes, system client).
    checked_tokens: TimedCache[tuple[dt.datetime, frozenset[str], SystemClient]] = TimedCache(
        "identity.checked_tokens", seconds=TOKEN_CACHE_SECONDS
    )

    def __init__(self, *scopes: str) -> None:
        super().__init__()
        self.scopes = list(scopes)

    FULL_CHECK = object()  # the token needs django-oauth-toolkit's full check (audience-restricted)

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        client = self.check(token)
        if client is self.FULL_CHECK:
            return self._authenticate_oauthlib(request)
        if client is not None:
            request.system_client = client
        return client

    def check(self, token: str) -> Any:
        """The system client a bearer token stands for with every scope of this guard, None, or FULL_CHECK.
        Usable without a Django request (the gateway's lean WSGI path)."""
        checksum = hashlib.sha256(token.encode()).hexdigest()
        hit = self.checked_tokens.get(checksum)
        if hit is not None and hit[0] > timezone.now():
            return hit[2] if set(self.scopes) <= hit[1] else None
        # One query for token, application, system client and department: the same checks as
        # django-oauth-toolkit's validate_bearer_token (known token, not expired, every scope), without
        # oauthlib's request parsing, which cost more than the rest of a submission.
        access = (
            AccessToken.objects.select_related("application__system_client__department")
            .filter(token_checksum=checksum)
            .first()
        )
        if access is not None and access.resource:  # audience-restricted tokens: the toolkit's full check
            return self.FULL_CHECK
        if access is None or access.is_expired() or access.application is None:
            return None
        client = getattr(access.application, "system_client", None)
        if client is None:
            return None
        self.checked_tokens.set(checksum, (access.expires, frozenset(access.scope.split()), client))
        if not access.allow_scopes(self.scopes):
            return None
        return client

    def _authenticate_oauthlib(self, request: HttpRequest) -> Any:
        valid, oauth_request = get_oauthlib_core().verify_request(request, scopes=self.scopes)
        if not valid:
            return None
        client = (
            SystemClient.objects.select_related("department", "application")
            .filter(application=oauth_request.access_token.application)
            .first()
        )
        if client is None:
            return None
        request.system_client = client
        return client


class AreaOut(Schema):
    code: str
    name: str
    level: str
    parent_code: str | None


class DepartmentOut(Schema):
    code: str
    name: str
    short_name: str
    sector: str
    uscc: str
    level: str
    area_code: str
    parent_code: str | None


@router.get("/areas", response=list[AreaOut], summary="Administrative divisions")
def list_areas(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {"code": a.code, "name": a.name, "level": a.level, "parent_code": a.parent.code if a.parent else None}
        for a in Area.objects.select_related("parent")
    ]


@router.get("/departments", response=list[DepartmentOut], summary="Departments of the platform")
def list_departments(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {
            "code": d.code,
            "name": d.name,
            "short_name": d.short_name,
            "sector": d.sector,
            "uscc": d.uscc,
            "level": d.level,
            "area_code": d.area.code,
            "parent_code": d.parent.code if d.parent else None,
        }
        for d in Department.objects.filter(is_active=True).select_related("area", "parent")
    ]


class VerifyIn(Schema):
    name: str
    id_number: str


class VerifyOut(Schema):
    match: bool
    real_name_level: int | None = None
    reason: str | None = None


@router.post(
    "/persons/verify",
    response=VerifyOut,
    auth=ClientScope("identity.verify"),
    summary="Check that a name and ID number belong to one registered person (scope identity.verify)",
)
def verify_person(request: HttpRequest, payload: VerifyIn) -> VerifyOut:
    client: SystemClient = request.auth
    person, reason = None, None
    try:
        number = codes.parse_resident_id(payload.id_number).number
    except codes.CodeError as exc:
        number, reason = payload.id_number[:18], exc.message
    else:
        person = Person.objects.filter(id_number=number).only("name", "real_name_level").first()
    matched = person is not None and person.name == payload.name.strip()
    # Every call is traced, including refused ones; the ID number is kept masked.
    audit_record(
        event_type=AuditEventType.PERSON_VERIFIED,
        request=request,
        actor_label=client.application.client_id,
        department=client.department,
        target=person,
        extra_data={"id_number": codes.mask_id_number(number), "match": matched, "error": reason},
    )
    return VerifyOut(
        match=matched, real_name_level=person.real_name_level if matched else None, reason=reason
    )
