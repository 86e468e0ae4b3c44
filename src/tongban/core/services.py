"""Shared services: the audit trail."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.http import HttpRequest
from django.utils import timezone

from .codes import mask_login_identifier
from .constants import AuditOutcome
from .models import AuditEvent


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    # django-axes already resolved the client address with the configured proxy count.
    ip = getattr(request, "axes_ip_address", None) or request.META.get("REMOTE_ADDR")
    return ip or None


def audit_event(
    *,
    event_type: str,
    acting_user: Any = None,
    request: HttpRequest | None = None,
    actor_label: str = "",
    outcome: str = AuditOutcome.SUCCESS,
    target: models.Model | None = None,
    department: Any = None,
    extra_data: dict[str, Any] | None = None,
) -> AuditEvent:
    """An unsaved audit event (for bulk writers); ``audit_record`` saves one."""
    user = (
        acting_user if acting_user is not None and getattr(acting_user, "is_authenticated", False) else None
    )
    if not actor_label and user is not None:
        # Citizens log in with their ID number: the trail keeps it masked like everywhere it is not needed.
        actor_label = mask_login_identifier(user.get_username())
    return AuditEvent(
        at=timezone.now(),
        event_type=event_type,
        outcome=outcome,
        actor=user,
        actor_label=actor_label[:150],
        ip_address=client_ip(request),
        user_agent=(request.headers.get("User-Agent", "")[:300] if request is not None else ""),
        request_id=getattr(request, "request_id", "") if request is not None else "",
        department=department,
        target_type=target._meta.label if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        extra_data=extra_data or {},
    )


def audit_record(**kwargs: Any) -> AuditEvent:
    """Append one audit event (see audit_event for the arguments). Call inside the service's transaction so
    the record commits with the change; for failed attempts call it after the rollback so the trace survives."""
    event = audit_event(**kwargs)
    event.save()
    return event
