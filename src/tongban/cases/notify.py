"""Telling applicants what happened: pluggable channels (``notify_channels`` plugins, docs/plugins.md).

In-app is the case timeline itself (always). Public timeline events are marked ``notice_pending`` in the
change that made them (one column on a row written anyway: the submission path pays nothing more). A
background task turns each pending notice into messages of the staff outbox (``core.OutboxMessage``, one per
channel) and clears the mark in the same transaction, so a rolled-back transition sends nothing; the outbox
sends them after the commit and retries, with back-off, while the SMS gateway or mail server fails, so an
outage delays a notice and never loses it. ``TONGBAN_PLUGINS["notify_channels"]`` lists the channels
(TONGBAN_NOTIFY_CHANNELS, default "sms")."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tongban.core.models import OutboxMessage
from tongban.core.notify import queue_messages
from tongban.core.registry import Plugin, Registry

log = logging.getLogger(__name__)


class Channel(Plugin):
    """A ``notify_channels`` plugin: turns (case, message, recipient) into one outbox message, {"channel",
    "to", "text", "subject"}, or None when the recipient cannot be reached that way. It never sends anything
    itself. The recipient is whoever may act on the case now (``selectors.notice_recipients``): a former
    agent hears nothing more."""

    def build(self, case, message: str, recipient) -> dict[str, str] | None:  # type: ignore[no-untyped-def]
        raise NotImplementedError


notify_channels: Registry[Channel] = Registry(
    "notify_channels", label=gettext_lazy("办件通知渠道"), many=True
)


@notify_channels.register("sms")
class SmsChannel(Channel):
    label = gettext_lazy("短信（经短信网关）")

    def build(self, case, message: str, recipient) -> dict[str, str] | None:  # type: ignore[no-untyped-def]
        phone = recipient.phone
        if not phone:
            return None
        text = _("【通办】您的办件%(n)s：%(m)s") % {"n": case.number, "m": message}
        return {"channel": OutboxMessage.SMS, "to": phone, "text": text}


@notify_channels.register("email")
class EmailChannel(Channel):
    label = gettext_lazy("电子邮件")

    def build(self, case, message: str, recipient) -> dict[str, str] | None:  # type: ignore[no-untyped-def]
        if not recipient.email:
            return None
        subject = _("办件进度 %(n)s") % {"n": case.number}
        return {"channel": OutboxMessage.EMAIL, "to": recipient.email, "text": message, "subject": subject}


def channels() -> list[Channel]:
    """The configured channels, in the settings' order (``TONGBAN_PLUGINS["notify_channels"]``)."""
    return notify_channels.configured()


def notify_on_commit() -> None:
    """Public case events are marked pending with the change: nothing is lost when a broker or gateway is
    down, and a request never waits for one. Celery beat moves the pending notices to the outbox every few
    seconds; where Celery is eager (the demo, the tests) they go after commit."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        transaction.on_commit(send_pending_notices)


def send_pending_notices(limit: int = 500) -> int:
    """Move the pending notices, oldest first, to the outbox (one message per channel that reaches the
    applicant) and clear their mark, in one transaction; returns how many notices were moved. Sending,
    and retrying, is the outbox's (``core.notify.send_outbox``). Concurrent movers skip each other's rows
    on PostgreSQL."""
    from .models import CaseEvent
    from .selectors import notice_recipients

    configured = channels()
    with transaction.atomic():
        pending = (
            CaseEvent.objects.filter(notice_pending=True)
            .select_related("case__applicant", "case__organisation")
            .order_by("id")
        )
        if connection.features.has_select_for_update_skip_locked:
            pending = pending.select_for_update(skip_locked=True, of=("self",))
        events = list(pending[:limit])
        recipients = notice_recipients({e.case_id: e.case for e in events}.values())
        messages, moved = [], []
        for event in events:
            recipient = recipients[event.case_id]
            try:
                built = (
                    [channel.build(event.case, event.message, recipient) for channel in configured]
                    if recipient
                    else []
                )
            except Exception:  # a broken channel plugin: this notice stays pending (logged), the rest go
                log.exception("notice for case event %s could not be built; it stays pending", event.pk)
                continue
            messages += [m for m in built if m is not None]
            moved.append(event.pk)
        queue_messages(messages)
        CaseEvent.objects.filter(pk__in=moved).update(notice_pending=False)
    return len(moved)
