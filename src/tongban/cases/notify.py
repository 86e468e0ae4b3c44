"""Telling applicants what happened: pluggable channels (registry pattern, see STYLE.md).

In-app is the case timeline itself (always). SMS goes through tongban.core.notify (outbox in the demo,
a gateway adapter in production); email through Django's mail backend. Public timeline events are the
outbox: a background task sends them after the change committed, so a rolled-back transition sends
nothing and a gateway outage loses nothing. TONGBAN_NOTIFY_CHANNELS selects the channels (default "sms")."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
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


def notify_on_commit() -> None:
    """Public case events are their own outbox (``notice_pending``), written with the change: nothing is
    lost when a broker or gateway is down, and a request never waits for one. Celery beat sends the
    pending notices every few seconds; where Celery is eager (the demo, the tests) they go after commit."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        transaction.on_commit(send_pending_notices)


def send_pending_notices(limit: int = 500) -> int:
    """Send the pending notices, oldest first (at least once: a crash after sending and before the commit
    sends again). Concurrent senders skip each other's rows on PostgreSQL."""
    from .models import CaseEvent

    with transaction.atomic():
        pending = (
            CaseEvent.objects.filter(notice_pending=True).select_related("case__applicant").order_by("id")
        )
        if connection.features.has_select_for_update_skip_locked:
            pending = pending.select_for_update(skip_locked=True, of=("self",))
        events = list(pending[:limit])
        for event in events:
            notify(event.case, event.message)
        CaseEvent.objects.filter(pk__in=[e.pk for e in events]).update(notice_pending=False)
    return len(events)


def notify(case, message: str) -> None:
    for name in channels():
        try:
            registry[name](case, message)
        except Exception:  # a channel failing must not break the others
            log.exception("notification channel %s failed for case %s", name, case.number)
