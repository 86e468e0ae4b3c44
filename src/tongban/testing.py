"""Helpers the tests of every app share: sign-ins (password, TOTP, OAuth client credentials), SMS codes
from the test outbox, resident ID numbers, hypothesis strategies for national codes, and the browser helpers.

Test modules import helpers from here (or from an app's ``tests/factories.py`` / ``tests/conftest.py``),
never from another test module: ``core/tests/test_test_modules.py`` fails when one does. Only tests
import this module; it sits above every app, so it may use any of them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import strategies as st

from tongban.core import codes, notify
from tongban.identity.tests.factories import PASSWORD

if TYPE_CHECKING:
    from django.http import HttpResponse

    from tongban.identity.models import Department, User

LOGIN = "/login/"
STAFF_LOGIN = "/staff/login/"
# The X-Road style header every GovStack building-block call carries.
MEDIATOR = {"HTTP_INFORMATION_MEDIATOR_CLIENT": "eGovStack/GOV/90000009/market-window"}


# --- sign-ins ---------------------------------------------------------------------------------------


def current_totp(user: User) -> str:
    """The six digits the user's confirmed authenticator shows now."""
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def login_public(client: Client, username: str, password: str = PASSWORD) -> HttpResponse:
    return client.post(LOGIN, {"username": username, "password": password})


def login_staff(
    client: Client, user: User, token: str | None = None, password: str = PASSWORD
) -> HttpResponse:
    """The staff login form with the password and (unless given) the authenticator's current code."""
    return client.post(
        STAFF_LOGIN,
        {
            "username": user.username,
            "password": password,
            "token": current_totp(user) if token is None else token,
        },
    )


def staff_client(user: User) -> Client:
    """A test client signed in to the staff workbench as ``user``."""
    client = Client()
    login_staff(client, user)
    return client


def token(department: Department, *scopes: str) -> dict[str, str]:
    """Headers of one of ``department``'s systems: a new system client, an OAuth 2 client-credentials token
    for ``scopes``, and the Information-Mediator-Client header."""
    from tongban.identity.services import system_client_create

    client, secret = system_client_create(
        acting_user=None, department=department, name="窗口系统", scopes=list(scopes)
    )
    response = Client().post(
        "/o/token/",
        {
            "grant_type": "client_credentials",
            "client_id": client.application.client_id,
            "client_secret": secret,
            "scope": " ".join(scopes),
        },
    )
    assert response.status_code == 200, response.content
    return {"HTTP_AUTHORIZATION": f"Bearer {response.json()['access_token']}", **MEDIATOR}


def sms_code(phone: str) -> str:
    """The code in the latest SMS to ``phone`` (the test SMS backend keeps every message in-process)."""
    for message in reversed(notify.outbox):
        if message["to"] == phone:
            found = re.search(r"验证码(\d{6})", message["text"])
            return found.group(1) if found else ""
    return ""


# --- data -------------------------------------------------------------------------------------------


def resident_number(n: int, area: str = "339902") -> str:
    """The n-th test resident's ID number (born 1985-05-05 plus n days), valid check digit."""
    return codes.make_resident_id(area, dt.date(1985, 5, 5) + dt.timedelta(days=n), n + 1)


# Hypothesis strategies for the national codes.
areas = st.sampled_from(["110101", "310115", "440305", "339902", "510107", "650102"])
org_bodies = st.text(alphabet=codes.USCC_ALPHABET, min_size=8, max_size=8)


# --- browser (Playwright) ---------------------------------------------------------------------------


def new_page(browser: Any) -> Any:
    """A phone-sized Chinese page."""
    return browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN").new_page()


def staff_login(browser: Any, base: str, user: User) -> Any:
    """A page signed in to the staff workbench as ``user`` (password and TOTP)."""
    page = new_page(browser)
    page.goto(base + "/staff/login/")
    page.get_by_label("工作人员登录名").fill(user.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_label("动态口令（6位数字）").fill(current_totp(user))
    page.get_by_role("button", name="登录工作台").click()
    page.wait_for_url("**/staff/")
    return page
