import re

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from tongban.core import notify
from tongban.core.constants import AuditEventType, AuditOutcome
from tongban.core.models import AuditEvent
from tongban.identity import lockout
from tongban.identity.middleware import SESSION_KEY
from tongban.identity.models import OrganisationAgent, StaffRole
from tongban.testing import STAFF_LOGIN, current_totp, login_public, login_staff, sms_code
from tongban.testing import staff_client as _staff_client

from .factories import (
    PASSWORD,
    ROLE,
    DepartmentFactory,
    OrganisationFactory,
    StaffFactory,
    UserFactory,
    _next_id_number,
)

pytestmark = pytest.mark.django_db


def test_citizen_logs_in_with_id_number_or_phone():
    user = UserFactory()
    response = login_public(Client(), user.username.lower())
    assert response.status_code == 302 and response["Location"] == "/account/"
    client = Client()
    assert login_public(client, user.phone).status_code == 302
    page = client.get("/account/")
    assert page.status_code == 200
    body = page.content.decode()
    assert user.person.masked_id_number in body
    assert user.person.id_number not in body  # the full ID number is not needed on the page
    logins = AuditEvent.objects.filter(event_type=AuditEventType.LOGIN, actor=user)
    assert logins.count() == 2
    assert {e.actor_label for e in logins} == {user.person.masked_id_number}


def test_wrong_password_and_unknown_account_look_the_same():
    user = UserFactory()
    wrong = login_public(Client(), user.username, "wrong-password")
    unknown = login_public(Client(), _next_id_number(), "wrong-password")
    assert wrong.status_code == unknown.status_code == 200
    message = "账号或密码不正确"
    assert message in wrong.content.decode() and message in unknown.content.decode()
    assert AuditEvent.objects.filter(event_type=AuditEventType.LOGIN_FAILED).count() == 2
    # The audit trail never stores the full ID number typed in.
    assert not AuditEvent.objects.filter(actor_label=user.username).exists()


def test_staff_cannot_use_the_citizen_login_and_vice_versa():
    staff = StaffFactory(totp=True)
    assert "账号或密码不正确" in login_public(Client(), staff.username).content.decode()
    citizen = UserFactory()
    response = Client().post(
        STAFF_LOGIN, {"username": citizen.username, "password": PASSWORD, "token": "000000"}
    )
    assert "登录名、密码或动态口令不正确" in response.content.decode()


@pytest.fixture
def clock(monkeypatch):
    """The login delay's clock (identity.lockout): tests step past the waits instead of sleeping."""
    now = [1_000_000.0]
    monkeypatch.setattr(lockout, "_clock", lambda: now[0])
    return now


def test_account_is_locked_after_five_failures_even_with_the_right_password(clock):
    user = UserFactory()
    for _ in range(5):
        clock[0] += 10  # past the growing wait between attempts (test_login_protection)
        login_public(Client(), user.username, "wrong-password")
    locked = login_public(Client(), user.phone)  # the same account through its phone number
    assert locked.status_code == 429
    assert "已暂停登录" in locked.content.decode()
    assert AuditEvent.objects.filter(event_type=AuditEventType.LOCKED_OUT).exists()


def test_login_attempts_from_one_address_are_throttled(settings):
    settings.LOGIN_THROTTLE = {**settings.LOGIN_THROTTLE, "per_ip_per_minute": 3}
    client = Client()
    for n in range(3):
        assert login_public(client, _next_id_number(), "x").status_code == 200, n
    response = login_public(client, _next_id_number(), "x")
    assert response.status_code == 429
    assert "尝试过于频繁" in response.content.decode()


def test_staff_login_needs_the_second_factor():
    dept = DepartmentFactory()
    staff = StaffFactory(totp=True, roles=[(dept, ROLE.INTAKE_CLERK)])
    client = Client()
    response = login_staff(client, staff, token="000000" if current_totp(staff) != "000000" else "111111")
    assert response.status_code == 200 and "动态口令不正确" in response.content.decode()
    assert client.get("/staff/").status_code == 302  # not logged in
    # django-otp delays the next try after a wrong code; a person waits, the test resets the delay.
    TOTPDevice.objects.get(user=staff).throttle_reset()
    response = login_staff(client, staff)
    assert response.status_code == 302 and response["Location"] == "/staff/"
    page = client.get("/staff/")
    assert page.status_code == 200 and dept.name in page.content.decode()


def test_wrong_second_factor_counts_towards_lockout(clock):
    staff = StaffFactory(totp=True)
    wrong = "000000" if current_totp(staff) != "000000" else "111111"
    for _ in range(4):
        clock[0] += 10
        login_staff(Client(), staff, token=wrong)
    clock[0] += 10
    response = login_staff(Client(), staff, token=wrong)
    assert response.status_code == 429
    assert login_staff(Client(), staff).status_code == 429  # right code, still locked


def test_public_session_cannot_open_staff_pages():
    client = Client()
    client.force_login(UserFactory())
    assert client.get("/staff/").status_code == 302


def test_first_staff_login_enrols_an_authenticator():
    staff = StaffFactory(totp=False)
    client = Client()
    response = client.post(STAFF_LOGIN, {"username": staff.username, "password": PASSWORD, "token": ""})
    assert response["Location"] == "/staff/login/enrol/"
    page = client.get("/staff/login/enrol/")
    assert page.status_code == 200 and "<svg" in page.content.decode()
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    bad = client.post("/staff/login/enrol/", {"token": "123"})
    assert "动态口令不正确" in bad.content.decode()
    from django_otp.oath import totp

    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    done = client.post("/staff/login/enrol/", {"token": code})
    assert done["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200
    assert TOTPDevice.objects.get(user=staff).confirmed


def test_enrol_page_needs_the_password_first():
    response = Client().get("/staff/login/enrol/")
    assert response.status_code == 302 and response["Location"] == STAFF_LOGIN


def test_password_reset_does_not_reveal_whether_the_account_exists():
    user = UserFactory()
    known = Client().post("/password/reset/", {"identifier": user.phone})
    unknown = Client().post("/password/reset/", {"identifier": "13999999999"})
    assert known.status_code == unknown.status_code == 200

    def page(response, typed):
        return re.sub(
            r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode().replace(typed, "")
        )

    assert page(known, user.phone) == page(unknown, "13999999999")
    assert len(notify.outbox) == 1 and notify.outbox[0]["to"] == user.phone
    link = re.search(r"http://testserver(/password/reset/\S+?/)\s", notify.outbox[0]["text"]).group(1)
    client = Client()
    form = client.get(link, follow=True)
    assert form.status_code == 200
    set_url = form.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": "Brand-new-pass-77", "new_password2": "Brand-new-pass-77"})
    assert done.status_code == 302
    assert login_public(Client(), user.username, "Brand-new-pass-77").status_code == 302
    # The link works once.
    assert "链接已失效" in Client().get(link, follow=True).content.decode()


def test_register_page_shows_chinese_errors_and_keeps_the_input():
    client = Client()
    number = _next_id_number()
    bad = number[:17] + ("0" if number[17] != "0" else "1")
    response = client.post("/register/", {"name": "赵六", "id_number": bad, "phone": "13600000000"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "校验码" in body and 'value="赵六"' in body
    assert not notify.outbox  # nothing is sent for a malformed request
    ok = client.post("/register/", {"name": "赵六", "id_number": number, "phone": "13600000000"})
    assert ok.status_code == 302 and ok["Location"] == "/register/verify/"
    page = client.get("/register/verify/")
    assert "136****0000" in page.content.decode()
    weak = client.post(
        "/register/verify/",
        {"code": sms_code("13600000000"), "password": "12345678901", "password2": "12345678901"},
    )
    assert weak.status_code == 200 and "密码" in weak.content.decode()
    done = client.post(
        "/register/verify/",
        {"code": sms_code("13600000000"), "password": "Pass-word-2026", "password2": "Pass-word-2026"},
    )
    assert done.status_code == 302 and done["Location"] == "/account/"
    assert "自行填报" in client.get("/account/").content.decode()


def test_forms_enforce_csrf():
    client = Client(enforce_csrf_checks=True)
    user = UserFactory()
    assert login_public(client, user.username).status_code == 403


def test_acting_for_organisation_switch_and_recheck_on_every_request():
    owner = UserFactory()
    org = OrganisationFactory(legal_representative=owner.person)
    agent_user = UserFactory()
    agency = OrganisationAgent.objects.create(organisation=org, person=agent_user.person, granted_by=owner)
    client = Client()
    client.force_login(agent_user)
    response = client.post("/account/acting/", {"organisation": str(org.uuid)})
    assert response.status_code == 302
    page = client.get("/account/")
    assert f"代表 {org.name} 办事" in page.content.decode()
    # Revocation takes effect on the agent's very next request.
    agency.revoked_at = agency.granted_at
    agency.save()
    page = client.get("/account/")
    assert f"代表 {org.name} 办事" not in page.content.decode()
    assert SESSION_KEY not in client.session


def test_cannot_switch_to_someone_elses_organisation():
    client = Client()
    client.force_login(UserFactory())
    org = OrganisationFactory()
    client.post("/account/acting/", {"organisation": str(org.uuid)})
    assert SESSION_KEY not in client.session
    assert (
        AuditEvent.objects.filter(
            event_type=AuditEventType.ACTING_SWITCHED, outcome=AuditOutcome.FAILURE
        ).count()
        == 1
    )


def test_legal_representative_grants_agent_through_the_pages():
    owner = UserFactory()
    org = OrganisationFactory(legal_representative=owner.person)
    agent_user = UserFactory()
    client = Client()
    client.force_login(owner)
    response = client.post(
        f"/account/organisations/{org.uuid}/agents/new/",
        {"name": agent_user.person.name, "id_number": agent_user.person.id_number},
    )
    assert response.status_code == 302
    assert agent_user.person.masked_id_number in client.get("/account/").content.decode()


def test_department_staff_page_is_limited_to_that_departments_admins():
    home, other = DepartmentFactory(), DepartmentFactory()
    admin = StaffFactory(totp=True, roles=[(home, ROLE.DEPARTMENT_ADMIN)])
    clerk = StaffFactory(totp=True, roles=[(home, ROLE.INTAKE_CLERK)])
    client = _staff_client(admin)
    assert client.get(f"/staff/departments/{home.code}/").status_code == 200
    assert client.get(f"/staff/departments/{other.code}/").status_code == 403
    response = client.post(
        f"/staff/departments/{home.code}/", {"username": clerk.username, "role": ROLE.REVIEWER}
    )
    assert response.status_code == 302
    assert StaffRole.objects.filter(user=clerk, department=home, role=ROLE.REVIEWER).exists()
    assert _staff_client(clerk).get(f"/staff/departments/{home.code}/").status_code == 403
    assert AuditEvent.objects.filter(event_type=AuditEventType.PERMISSION_DENIED).count() == 2


def test_audit_log_page_for_admins_only():
    home = DepartmentFactory()
    admin = StaffFactory(totp=True, roles=[(home, ROLE.DEPARTMENT_ADMIN)])
    clerk = StaffFactory(totp=True, roles=[(home, ROLE.INTAKE_CLERK)])
    other_admin = StaffFactory(totp=True, roles=[(DepartmentFactory(), ROLE.DEPARTMENT_ADMIN)])
    _staff_client(other_admin)
    page = _staff_client(admin).get("/staff/audit/?type=login")
    assert page.status_code == 200
    rows = {e.actor for e in page.context["page"]}
    assert rows == {admin}  # its own staff's logins, not another department's
    assert _staff_client(clerk).get("/staff/audit/").status_code == 403
    assert AuditEvent.objects.filter(event_type=AuditEventType.PERMISSION_DENIED, actor=clerk).exists()


def test_staff_pages_send_strangers_to_the_staff_login_and_back():
    response = Client().get("/staff/audit/?type=login")
    assert response.status_code == 302
    assert response["Location"] == "/staff/login/?next=/staff/audit/%3Ftype%3Dlogin"


def test_pages_default_to_chinese_whatever_the_browser_says():
    page = Client().get("/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "密码" in page and 'lang="zh-CN"' in page


def test_english_switch_translates_the_pages():
    client = Client()
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/login/"})
    assert response.status_code == 302
    page = client.get("/login/").content.decode()
    assert "Password" in page and "密码" not in page


def test_security_headers():
    response = Client().get(reverse("portal:home"))
    assert response["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Request-ID"]


def test_pages_do_not_query_per_row(django_assert_max_num_queries):
    home = DepartmentFactory()
    admin = StaffFactory(totp=True, roles=[(home, ROLE.DEPARTMENT_ADMIN)])
    client = _staff_client(admin)
    for _ in range(15):
        StaffFactory(roles=[(home, ROLE.INTAKE_CLERK)])
    with django_assert_max_num_queries(12):
        assert client.get(f"/staff/departments/{home.code}/").status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get("/staff/audit/").status_code == 200
    owner = UserFactory()
    for _ in range(5):
        org = OrganisationFactory(legal_representative=owner.person)
        for _ in range(3):
            OrganisationAgent.objects.create(organisation=org, person=UserFactory().person, granted_by=owner)
    citizen = Client()
    citizen.force_login(owner)
    with django_assert_max_num_queries(7):
        assert citizen.get("/account/").status_code == 200
