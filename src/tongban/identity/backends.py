"""Authentication: public accounts by ID number or phone, staff accounts by login name."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from .constants import AccountType
from .models import User

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")


def normalise_identifier(identifier: str) -> str:
    value = (identifier or "").strip()
    # ID numbers end in an upper-case X; people type either case.
    return value.upper() if len(value) == 18 else value


def find_account(identifier: str, account_type: str | None = None) -> User | None:
    value = normalise_identifier(identifier)
    if not value:
        return None
    qs = User.objects.select_related("person")
    if account_type:
        qs = qs.filter(account_type=account_type)
    if PHONE_RE.match(value):
        user = qs.filter(phone=value, account_type=AccountType.PUBLIC).first()
        if user is not None:
            return user
    return qs.filter(username=value).first()


def axes_username(request: HttpRequest | None, credentials: dict[str, Any]) -> str:
    """One lockout counter per account, whether the person typed the phone number or the ID number."""
    identifier = normalise_identifier((credentials or {}).get("username", ""))
    if PHONE_RE.match(identifier):
        username = User.objects.filter(phone=identifier).values_list("username", flat=True).first()
        if username:
            return username
    return identifier


class AccountBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        account_type: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if not username or password is None:
            return None
        user = find_account(username, account_type)
        if user is None:
            # Same work as a real check so that timing does not tell whether the account exists.
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
