"""The per-account login delay (issue 15, low), and the per-address limit on failed OAuth client logins.

django-axes locks an (account, address) pair after AXES_FAILURE_LIMIT failures, so a stranger can no longer
lock a known login out for everybody; but someone with many addresses could then guess an account's
password from each of them. Across all addresses, therefore, every login attempt for an account after
LOGIN_DELAY["free_failures"] unsuccessful ones has to wait 1, 2, 4 … seconds (at most
LOGIN_DELAY["max_seconds"]) after the last failure, and at most one attempt per such period goes ahead.

- The wait is not a sleep: an early attempt is answered at once (429, "请 N 秒后再试") without looking at
  the password, so it tells nothing and holds no worker.
- An early attempt is not a failure: django-axes does not count it against the address and the wait does
  not grow. Keeping an account waiting therefore needs a wrong password every few seconds, sustained, and
  each address is locked by django-axes after five of them.
- Attempts are counted before the password is checked, atomically, and once waits apply at most one
  attempt a second goes ahead: a burst sent all at once does not slip through before its failures are
  counted.
- An unknown account name is counted the same way: the answer does not tell whether an account exists.
- The counters live in the cache (Redis in production, shared by every worker) and lapse
  AXES_COOLOFF_TIME after the last attempt; a successful login clears them."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import time
from collections.abc import Callable
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from tongban.core.codes import mask_login_identifier
from tongban.core.constants import AuditEventType, AuditOutcome
from tongban.core.http import client_bucket
from tongban.core.services import audit_record
from tongban.core.throttle import throttle_client

from .backends import axes_username

PREFIX = "login-delay:"


def _clock() -> float:
    return time.time()


def _key(username: str) -> str:
    # One counter per account, whether it was typed as a phone number or an ID number.
    account = axes_username(None, {"username": username})
    return hashlib.sha256(account.encode()).hexdigest()[:32]


def _lifetime() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def delay_after(attempts: int) -> int:
    """Seconds an attempt waits after ``attempts`` unsuccessful ones: 0 for the first few, then 1, 2, 4 …"""
    policy = settings.LOGIN_DELAY
    extra = attempts - policy["free_failures"]
    return 0 if extra < 0 else min(policy["max_seconds"], 2**extra)


def _count(key: str) -> int:
    """Count one attempt; the number of attempts since the last successful login, this one included."""
    lifetime = _lifetime()
    if cache.add(key, 1, timeout=lifetime):
        return 1
    try:
        count = cache.incr(key)
    except ValueError:  # lapsed between add and incr
        cache.add(key, 1, timeout=lifetime)
        return 1
    cache.touch(key, lifetime)
    return count


def _uncount(key: str) -> None:
    with contextlib.suppress(ValueError):  # lapsed meanwhile
        cache.decr(key)


def login_wait(request: HttpRequest, username: str) -> int:
    """Seconds this login attempt for ``username`` has to wait: 0 when it may check the password now.
    Call before authenticate(); a refused attempt is audited and must be answered with ``wait_message``."""
    username = (username or "").strip()
    if not username:
        return 0
    if not AxesProxyHandler.is_allowed(request, {"username": username}):
        return 0  # this address is locked for this account: django-axes refuses it, and it takes no turn
    key = _key(username)
    counter = f"{PREFIX}n:{key}"
    earlier = _count(counter) - 1  # failures, and attempts still being checked
    delay = delay_after(earlier)
    if not delay:
        return 0
    now = _clock()
    last = cache.get(f"{PREFIX}at:{key}") or 0.0
    if now < last + delay:
        wait = math.ceil(last + delay - now)
    # Of attempts that arrive together once the wait is over, one a second goes ahead.
    elif cache.add(f"{PREFIX}turn:{key}:{int(now)}", 1, timeout=2):
        return 0
    else:
        wait = max(1, math.ceil(int(now) + 1 - now))
    _uncount(counter)  # a refused attempt checked nothing: it does not lengthen the wait
    audit_record(
        event_type=AuditEventType.LOGIN_FAILED,
        request=request,
        actor_label=mask_login_identifier(axes_username(request, {"username": username})),
        outcome=AuditOutcome.FAILURE,
        extra_data={"reason": "login_wait", "wait_seconds": wait},
    )
    return wait


def wait_message(seconds: int) -> str:
    return _("该账号近期登录失败次数较多，请 %(seconds)d 秒后再试。") % {"seconds": seconds}


def login_failed(request: HttpRequest | None, credentials: dict[str, Any]) -> None:
    """A password or second factor was wrong: the account's next attempt waits from now."""
    if request is None or getattr(request, "axes_locked_out", False):
        return  # refused by django-axes without a check: not a new failure
    username = ((credentials or {}).get("username") or "").strip()
    if username:
        cache.set(f"{PREFIX}at:{_key(username)}", _clock(), timeout=_lifetime())


def login_succeeded(username: str) -> None:
    key = _key(username)
    cache.delete_many([f"{PREFIX}n:{key}", f"{PREFIX}at:{key}"])


# ---- OAuth client authentication (/o/token/, /o/revoke_token/, /o/introspect/) --------------------------

# Failed client authentications (401) one address may make per window before its requests are refused
# for the rest of the window. Client secrets are 128 random characters, so this is not about guessing them:
# each check hashes the offered secret (argon2), and without a limit anyone could keep the workers busy.
CLIENT_AUTH_FAILURES = 20
CLIENT_AUTH_WINDOW = 600


def client_auth_guard(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse (429) an address whose failed client authentications are spent, and count each new one."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        blocked = f"{PREFIX}client-auth:{client_bucket(request) or 'unknown'}"
        if cache.get(blocked):
            response = JsonResponse(
                {
                    "error": "invalid_request",
                    "error_description": "too many failed client authentications from this address; "
                    "try again later",
                },
                status=429,
            )
            response["Retry-After"] = str(CLIENT_AUTH_WINDOW)
            return response
        response = view(request, *args, **kwargs)
        if response.status_code == 401 and not throttle_client(
            request, "oauth-client-auth", limit=CLIENT_AUTH_FAILURES, window_seconds=CLIENT_AUTH_WINDOW
        ):
            cache.set(blocked, 1, timeout=CLIENT_AUTH_WINDOW)
        return response

    return guarded
