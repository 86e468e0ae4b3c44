"""Outgoing SMS, and the outbox for messages to staff.

SMS: the gateway is an ``sms`` plugin (``core.registry``, docs/plugins.md). The demo and tests write messages
to a file outbox (and a log line), plugin ``outbox``; a production deployment registers its SMS gateway
adapter and chooses it in ``TONGBAN_PLUGINS["sms"]`` (TONGBAN_SMS_BACKEND). Issue-level notification
channels build on this.

Messages to staff (share-request reminders and escalations) and case notices to applicants are rows of
``OutboxMessage`` written with the change that caused them and sent by ``send_outbox`` after the commit,
retried while the gateway fails."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .codes import mask_phone
from .registry import Plugin, Registry

log = logging.getLogger("tongban.sms")

# Messages sent in this process, newest last; tests read it, as Django's locmem mail outbox.
outbox: list[dict[str, str]] = []


class SmsGateway(Plugin):
    """An ``sms`` plugin: hands one message to the SMS gateway, raising when the gateway fails (the outbox
    then retries it)."""

    def send(self, phone: str, text: str) -> None:
        raise NotImplementedError


sms_gateways: Registry[SmsGateway] = Registry("sms", label=gettext_lazy("短信网关"))


@sms_gateways.register("outbox")
class OutboxSmsBackend(SmsGateway):
    """Writes every message to DATA_DIR/outbox/sms.jsonl and to the log; delivers nothing."""

    label = gettext_lazy("文件发件箱（不真正发送，演示和测试用）")

    def send(self, phone: str, text: str) -> None:
        message = {"to": phone, "text": text, "at": timezone.now().isoformat()}
        outbox.append(message)
        folder = Path(settings.DATA_DIR) / "outbox"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "sms.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(message, ensure_ascii=False) + "\n")
        log.info("sms queued", extra={"to": mask_phone(phone)})

    def check_config(self) -> list[str]:
        folder = Path(settings.DATA_DIR) / "outbox"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / "sms.jsonl", "a", encoding="utf-8"):
                pass
        except OSError as exc:
            return [_("无法写入短信发件箱 %(f)s：%(e)s") % {"f": folder, "e": exc.strerror or exc}]
        return []


def sms_gateway() -> SmsGateway:
    """The configured SMS gateway (``TONGBAN_PLUGINS["sms"]``)."""
    return sms_gateways.configured()


def send_sms(*, phone: str, text: str) -> None:
    sms_gateway().send(phone, text)


# ---- the outbox for staff messages ---------------------------------------------------------------------

MAX_ATTEMPTS = 12  # with the back-off below, about five hours of a gateway being down
FIRST_RETRY_SECONDS = 30
LONGEST_RETRY_SECONDS = 3600


def queue_message(*, channel: str, to: str, text: str, subject: str = "") -> None:
    """Send an SMS or email once the caller's transaction commits (``OutboxMessage``). Celery beat sends the
    outbox every few seconds; where Celery is eager (the demo, the tests) it goes right after the commit."""
    from .models import OutboxMessage

    OutboxMessage.objects.create(channel=channel, recipient=to, subject=subject[:200], text=text)
    if settings.CELERY_TASK_ALWAYS_EAGER:
        transaction.on_commit(send_outbox)


def queue_messages(messages: Sequence[Mapping[str, str]]) -> int:
    """``queue_message`` for many messages in one INSERT: each a mapping of ``channel``, ``to``, ``text``
    and optionally ``subject``. Returns how many were queued."""
    from .models import OutboxMessage

    rows = [
        OutboxMessage(
            channel=m["channel"], recipient=m["to"], subject=m.get("subject", "")[:200], text=m["text"]
        )
        for m in messages
    ]
    OutboxMessage.objects.bulk_create(rows, batch_size=1000)
    if rows and settings.CELERY_TASK_ALWAYS_EAGER:
        transaction.on_commit(send_outbox)
    return len(rows)


def send_outbox(limit: int = 200) -> int:
    """Send the messages that are due, oldest first; returns how many went. At least once: a crash after
    sending and before the commit sends again. A failed message is tried again later, waiting twice as
    long each time, and given up (logged) after ``MAX_ATTEMPTS``. Concurrent senders skip each other's rows
    on PostgreSQL."""
    from .models import OutboxMessage

    now = timezone.now()
    sent = 0
    with transaction.atomic():
        due = OutboxMessage.objects.filter(
            sent_at__isnull=True, next_attempt_at__lte=now, attempts__lt=MAX_ATTEMPTS
        ).order_by("next_attempt_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        for message in due[:limit]:
            try:
                if message.channel == OutboxMessage.EMAIL:
                    send_mail(message.subject, message.text, None, [message.recipient])
                else:
                    send_sms(phone=message.recipient, text=message.text)
            except Exception as exc:  # one failing message must not hold up the others
                message.attempts += 1
                message.last_error = f"{type(exc).__name__}: {exc}"[:300]
                wait = min(LONGEST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (message.attempts - 1))
                message.next_attempt_at = now + dt.timedelta(seconds=wait)
                message.save(update_fields=["attempts", "last_error", "next_attempt_at"])
                if message.attempts >= MAX_ATTEMPTS:
                    log.error("outbox message %s given up after %s attempts", message.pk, message.attempts)
                else:
                    log.warning("outbox message %s failed, retrying in %s s", message.pk, wait)
                continue
            message.sent_at = now
            message.save(update_fields=["sent_at"])
            sent += 1
    return sent
