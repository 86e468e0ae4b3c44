"""Audit of authentication events, decoupled from the views that cause them."""

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from tongban.core.codes import mask_login_identifier
from tongban.core.constants import AuditEventType, AuditOutcome
from tongban.core.services import audit_record

from . import lockout
from .backends import axes_username


@receiver(user_logged_in)
def _logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    audit_record(event_type=AuditEventType.LOGIN, acting_user=user, request=request, target=user)
    lockout.login_succeeded(user.get_username())


@receiver(user_logged_out)
def _logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(event_type=AuditEventType.LOGOUT, acting_user=user, request=request, target=user)


@receiver(user_login_failed)
def _login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    lockout.login_failed(request, credentials)
    # Log the normalised identifier (never the password); ID numbers are masked.
    label = mask_login_identifier(axes_username(request, credentials))
    audit_record(
        event_type=AuditEventType.LOGIN_FAILED,
        request=request,
        actor_label=label,
        outcome=AuditOutcome.FAILURE,
        extra_data={"reason": credentials.get("reason", "credentials")},
    )


@receiver(user_locked_out)
def _locked_out(sender: Any, request: HttpRequest, username: str | None = None, **kwargs: Any) -> None:
    label = mask_login_identifier(username or "")
    audit_record(
        event_type=AuditEventType.LOCKED_OUT, request=request, actor_label=label, outcome=AuditOutcome.FAILURE
    )
