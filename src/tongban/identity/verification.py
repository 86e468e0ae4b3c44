"""SMS codes that prove a person holds a phone, and the limits on asking for them.

- A code is six random digits, kept only as an HMAC keyed with the platform secret and bound to the
  phone, the purpose and a keyed digest of what it was asked for; it expires after ten minutes, dies after
  five wrong tries, and a newer code for the same phone and purpose kills the older one.
- Asking is limited per phone (one a minute, ten a day) and per client (twenty an hour, counted by
  ``core.throttle.throttle_client``: the client behind the trusted proxies); every ask counts, whatever
  the answer, so the limits tell nothing.
- Codes and the notices that replace them go straight to the SMS backend (``core.notify.send_sms``), not
  through ``core.OutboxMessage``: a code is worthless after ten minutes, so retrying it for hours helps
  nobody, and the outbox would keep it in clear."""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from tongban.core.codes import mask_phone
from tongban.core.notify import send_sms
from tongban.core.throttle import throttle_client, throttle_hit

from .errors import IdentityError
from .models import SmsCode

log = logging.getLogger("tongban.identity")

CODE_TTL = dt.timedelta(minutes=10)
MAX_ATTEMPTS = 5
PER_PHONE_PER_MINUTE = 1
PER_PHONE_PER_DAY = 10
PER_ADDRESS_PER_HOUR = 20


def subject_digest(*parts: str) -> str:
    """What a code is for, as a keyed digest (the code row never holds an ID number)."""
    return salted_hmac("tongban.identity.sms-subject", "\x1f".join(parts), algorithm="sha256").hexdigest()


def _code_hash(phone: str, purpose: str, subject: str, code: str) -> str:
    value = "\x1f".join((phone, purpose, subject, code))
    return salted_hmac("tongban.identity.sms-code", value, algorithm="sha256").hexdigest()


def sms_code_throttle(*, phone: str, request: HttpRequest | None) -> None:
    """Count one ask for a code to ``phone`` from the request's address; refuse once a limit is spent."""
    allowed = (
        throttle_client(request, "sms-code-ip", limit=PER_ADDRESS_PER_HOUR, window_seconds=3600)
        and throttle_hit(f"sms-code-m:{phone}", limit=PER_PHONE_PER_MINUTE, window_seconds=60)
        and throttle_hit(f"sms-code-d:{phone}", limit=PER_PHONE_PER_DAY, window_seconds=86400)
    )
    if not allowed:
        log.info("sms code refused by throttle", extra={"to": mask_phone(phone)})
        raise IdentityError(_("获取验证码过于频繁，请稍后再试。"), field="phone", code="throttled")


def sms_code_issue(*, phone: str, purpose: str, subject: str) -> str:
    """A new code (inside the caller's transaction); earlier unused codes for the phone and purpose die."""
    now = timezone.now()
    SmsCode.objects.filter(phone=phone, purpose=purpose, used_at__isnull=True).update(used_at=now)
    code = f"{secrets.randbelow(10**6):06d}"
    SmsCode.objects.create(
        phone=phone,
        purpose=purpose,
        subject=subject,
        code_hash=_code_hash(phone, purpose, subject, code),
        expires_at=now + CODE_TTL,
    )
    return code


def sms_code_take(*, phone: str, purpose: str, subject: str, code: str) -> bool:
    """Use up the live code if ``code`` is it (inside the caller's transaction, which must commit even when
    this returns False, so that the wrong try counts)."""
    now = timezone.now()
    row = (
        SmsCode.objects.select_for_update()
        .filter(phone=phone, purpose=purpose, subject=subject, used_at__isnull=True, expires_at__gt=now)
        .order_by("-created_at", "-id")
        .first()
    )
    code = (code or "").strip()
    if row is None or row.attempts >= MAX_ATTEMPTS or not code.isdigit():
        if row is not None and row.attempts < MAX_ATTEMPTS:
            row.attempts += 1
            row.save(update_fields=["attempts"])
        return False
    if constant_time_compare(row.code_hash, _code_hash(phone, purpose, subject, code)):
        row.used_at = now
        row.save(update_fields=["used_at"])
        return True
    row.attempts += 1
    row.save(update_fields=["attempts"])
    return False


def sms_send(messages: list[tuple[str, str]]) -> None:
    """Send (phone, text) pairs now; called after the transaction that decided them has committed."""
    for phone, text in messages:
        send_sms(phone=phone, text=text)
