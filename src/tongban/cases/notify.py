"""Telling applicants what happened: pluggable channels (registry pattern, see STYLE.md).

In-app is the case timeline itself (always). SMS goes through tongban.core.notify (outbox in the demo,
a gateway adapter in production); email through Django's mail backend. Channels run after commit, in a
background worker, so a rolled-back transition never sends anything. TONGBAN_NOTIFY_CHANNELS selects
them (default "sms")."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from django.core.mail import send_mail
from django.db import transaction
from django.utils.translation import gettext as _

from tongban.core.notify import send_sms

log = logging.getLogger(__name__)
Channel = Callable[[str, str, str], None]  # (phone or email, case number, message)
registry: dict[str, Callable[..., None]] = {}


def register(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def decorator(func: Callable[..., None]) -> Callable[..., None]:
        registry[name] = func
        return func

    return decorator


@register("sms")
def _sms(case, message: str) -> None:
    phone = case.applicant.phone
    if phone:
        send_sms(phone=phone, text=_("【通办】您的办件%(n)s：%(m)s") % {"n": case.number, "m": message})


@register("email")
def _email(case, message: str) -> None:
    if case.applicant.email:
        send_mail(_("办件进度 %(n)s") % {"n": case.number}, message, None, [case.applicant.email])


def channels() -> list[str]:
    names = os.environ.get("TONGBAN_NOTIFY_CHANNELS", "sms").split(",")
    return [n.strip() for n in names if n.strip() in registry]


def notify_on_commit(case, message: str) -> None:
    """After commit, hand the message to the background workers (Celery): an SMS gateway or a mail server
    that answers slowly must never hold up the request. Runs at once where Celery is eager (the demo)."""
    from .tasks import notify_task

    case_id, number = case.pk, case.number

    def enqueue() -> None:
        try:
            notify_task.delay(case_id, message)
        except Exception:  # the broker being down must not fail a request whose change is committed
            log.exception("could not queue the notification for case %s", number)

    transaction.on_commit(enqueue)


def notify(case, message: str) -> None:
    for name in channels():
        try:
            registry[name](case, message)
        except Exception:  # a channel failing must not break the others
            log.exception("notification channel %s failed for case %s", name, case.number)
