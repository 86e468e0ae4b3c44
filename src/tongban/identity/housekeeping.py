"""Removes what has expired: OAuth tokens and grants, old failed-login counters, stale TOTP enrolments."""

from __future__ import annotations

from datetime import timedelta

from axes.models import AccessAttempt
from django.conf import settings
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from oauth2_provider.models import clear_expired


def housekeeping() -> dict[str, int]:
    now = timezone.now()
    clear_expired()
    attempts, _ = AccessAttempt.objects.filter(attempt_time__lt=now - settings.AXES_COOLOFF_TIME).delete()
    # Unconfirmed authenticators are created at first login; a day later they are abandoned.
    devices, _ = TOTPDevice.objects.filter(confirmed=False, created_at__lt=now - timedelta(days=1)).delete()
    return {"expired_attempts": attempts, "abandoned_enrolments": devices}
