"""Login protection behind the reverse proxy: each client counts apart (issue 15 #5), and a stranger
cannot lock somebody else's account (issue 15, low: lockout by account and address, with a delay)."""

import pytest
from axes.models import AccessAttempt
from django.test import Client, RequestFactory

from tongban.core.constants import AuditEventType
from tongban.core.models import AuditEvent
from tongban.identity import lockout
from tongban.testing import current_totp

from .factories import PASSWORD, StaffFactory, UserFactory, _next_id_number

pytestmark = pytest.mark.django_db
LOGIN = "/login/"
STAFF_LOGIN = "/staff/login/"
LOCKED = "已暂停登录"
PROXY = "10.0.0.2"  # the one nginx every request comes through
ALICE, MALLORY = "198.51.100.7", "203.0.113.66"


def behind_proxy(client_address, spoofed=""):
    """A browser at ``client_address`` seen through nginx ($proxy_add_x_forwarded_for); ``spoofed`` is what
    the browser itself put into X-Forwarded-For."""
    forwarded = f"{spoofed}, {client_address}" if spoofed else client_address
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)


@pytest.fixture
def one_proxy(settings):
    settings.TONGBAN_TRUSTED_PROXIES = 1  # what TONGBAN_BEHIND_PROXY=1 sets in production
    return settings


def test_one_client_hammering_the_login_does_not_throttle_the_others(one_proxy):
    one_proxy.LOGIN_THROTTLE = {**one_proxy.LOGIN_THROTTLE, "per_ip_per_minute": 3}
    mallory = behind_proxy(MALLORY)
    for n in range(3):
        assert mallory.post(LOGIN, {"username": _next_id_number(), "password": "x"}).status_code == 200, n
    refused = mallory.post(LOGIN, {"username": _next_id_number(), "password": "x"})
    assert refused.status_code == 429 and "尝试过于频繁" in refused.content.decode()
    # Forging the header does not give Mallory a fresh bucket: her own entries are on the left.
    forged = behind_proxy(MALLORY, spoofed="192.0.2.1").post(
        LOGIN, {"username": _next_id_number(), "password": "x"}
    )
    assert forged.status_code == 429
    # Alice comes through the same proxy address and logs in.
    user = UserFactory()
    response = behind_proxy(ALICE).post(LOGIN, {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/account/"


def test_without_a_trusted_proxy_the_forwarded_header_is_ignored(settings):
    settings.TONGBAN_TRUSTED_PROXIES = 0
    settings.LOGIN_THROTTLE = {**settings.LOGIN_THROTTLE, "per_ip_per_minute": 1}
    assert (
        behind_proxy(MALLORY).post(LOGIN, {"username": _next_id_number(), "password": "x"}).status_code == 200
    )
    # A client that writes itself a new X-Forwarded-For still counts as the address it connects from.
    assert (
        behind_proxy(ALICE).post(LOGIN, {"username": _next_id_number(), "password": "x"}).status_code == 429
    )


def test_audit_records_and_failed_attempts_carry_the_client_address(one_proxy):
    user = UserFactory()
    behind_proxy(MALLORY, spoofed="192.0.2.1").post(LOGIN, {"username": user.username, "password": "wrong"})
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == [MALLORY]  # django-axes
    behind_proxy(ALICE).post(LOGIN, {"username": user.username, "password": PASSWORD})
    failed = AuditEvent.objects.get(event_type=AuditEventType.LOGIN_FAILED)
    login = AuditEvent.objects.get(event_type=AuditEventType.LOGIN)
    assert (failed.ip_address, login.ip_address) == (MALLORY, ALICE)


# ---- lockout by (account, address) and the per-account delay -------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """The login delay's clock (identity.lockout): tests step past the waits instead of sleeping."""
    now = [1_000_000.0]
    monkeypatch.setattr(lockout, "_clock", lambda: now[0])
    return now


def staff_post(client, staff, password=PASSWORD):
    return client.post(
        STAFF_LOGIN, {"username": staff.username, "password": password, "token": current_totp(staff)}
    )


def test_a_stranger_cannot_lock_a_known_staff_login_out(one_proxy, clock):
    staff = StaffFactory(totp=True)
    mallory = behind_proxy(MALLORY)
    for _ in range(4):
        clock[0] += 10  # past each wait (below)
        assert staff_post(mallory, staff, "guess").status_code == 200
    clock[0] += 10
    fifth = staff_post(mallory, staff, "guess")
    assert fifth.status_code == 429 and LOCKED in fifth.content.decode()
    clock[0] += 10
    refused = staff_post(mallory, staff)  # from Mallory's address even the right password is refused
    assert refused.status_code == 429 and LOCKED in refused.content.decode()
    # The staff member, behind the same proxy address, still logs in.
    response = staff_post(behind_proxy(ALICE), staff)
    assert response.status_code == 302 and response["Location"] == "/staff/"
    assert AuditEvent.objects.filter(event_type=AuditEventType.LOCKED_OUT, ip_address=MALLORY).exists()


def test_one_client_locked_out_of_an_account_does_not_lock_the_other(one_proxy, clock):
    user = UserFactory()
    mallory = behind_proxy(MALLORY)
    for _ in range(5):
        clock[0] += 10
        mallory.post(LOGIN, {"username": user.username, "password": "guess"})
    clock[0] += 10
    locked = mallory.post(LOGIN, {"username": user.phone, "password": PASSWORD})  # the same account by phone
    assert locked.status_code == 429 and LOCKED in locked.content.decode()
    # Changing the header she sends does not get her out: her own entries are on the left.
    forged = behind_proxy(MALLORY, spoofed=ALICE).post(
        LOGIN, {"username": user.username, "password": PASSWORD}
    )
    assert forged.status_code == 429 and LOCKED in forged.content.decode()
    response = behind_proxy(ALICE).post(LOGIN, {"username": user.phone, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/account/"


def test_each_failure_for_an_account_from_any_address_makes_the_next_attempt_wait(one_proxy, clock):
    user = UserFactory()
    for n, address in enumerate(["192.0.2.1", "192.0.2.2", "192.0.2.3"]):
        clock[0] += 0.1
        response = behind_proxy(address).post(LOGIN, {"username": user.username, "password": "guess"})
        assert response.status_code == 200 and "账号或密码不正确" in response.content.decode(), n
    # Three failures: the next attempt, from anywhere and even with the right password, waits a second.
    alice = behind_proxy(ALICE)
    early = alice.post(LOGIN, {"username": user.username, "password": PASSWORD})
    assert early.status_code == 429
    assert "该账号近期登录失败次数较多，请 1 秒后再试。" in early.content.decode()
    attempts = AccessAttempt.objects.values_list("failures_since_start", flat=True)
    assert sorted(attempts) == [1, 1, 1]  # the early attempt was not checked: no failure for django-axes
    assert AuditEvent.objects.filter(
        event_type=AuditEventType.LOGIN_FAILED, ip_address=ALICE, extra_data__reason="login_wait"
    ).exists()
    clock[0] += 1
    response = alice.post(LOGIN, {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302


def test_the_wait_grows_with_each_failure_up_to_a_few_seconds(one_proxy, clock):
    waits = []
    account = _next_id_number()  # no such account: it is delayed the same way
    for n in range(8):
        address = f"192.0.2.{n + 1}"
        response = behind_proxy(address).post(LOGIN, {"username": account, "password": "guess"})
        if response.status_code == 429:
            waits.append(int(response.content.decode().split("请 ")[1].split(" 秒")[0]))
            clock[0] += waits[-1]
            response = behind_proxy(address).post(LOGIN, {"username": account, "password": "guess"})
        else:
            waits.append(0)
        assert response.status_code == 200 and "账号或密码不正确" in response.content.decode(), n
    assert waits == [0, 0, 0, 1, 2, 4, 5, 5]


def test_of_attempts_arriving_together_once_the_wait_is_over_one_goes_ahead(one_proxy, clock):
    user = UserFactory()
    for n in range(4):
        clock[0] += 10
        behind_proxy(f"192.0.2.{n + 1}").post(LOGIN, {"username": user.username, "password": "guess"})
    clock[0] += 10

    def attempt(address):
        request = RequestFactory().post(LOGIN, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=address)
        return lockout.login_wait(request, user.username)

    assert [attempt(f"198.51.100.{n}") for n in range(1, 5)] == [0, 1, 1, 1]
    clock[0] += 1  # the first is still being checked: a second later the next may go
    assert attempt("198.51.100.9") == 0


def test_a_successful_login_clears_the_delay(one_proxy, clock):
    user = UserFactory()
    for _ in range(4):
        clock[0] += 10
        behind_proxy(ALICE).post(LOGIN, {"username": user.username, "password": "guess"})
    clock[0] += 10
    assert (
        behind_proxy(ALICE).post(LOGIN, {"username": user.username, "password": PASSWORD}).status_code == 302
    )
    # A typo right after is answered at once again.
    assert behind_proxy(ALICE).post(LOGIN, {"username": user.username, "password": "typo"}).status_code == 200


def test_the_admin_login_is_delayed_and_throttled_too(one_proxy, clock):
    staff = StaffFactory(totp=True, is_staff=True)
    admin = behind_proxy(MALLORY)
    for _ in range(3):
        clock[0] += 0.1
        response = admin.post(
            "/admin/login/", {"username": staff.username, "password": "guess", "otp_token": "1"}
        )
        assert response.status_code == 200
    refused = admin.post(
        "/admin/login/", {"username": staff.username, "password": PASSWORD, "otp_token": "1"}
    )
    assert refused.status_code == 429 and "请 1 秒后再试" in refused.content.decode()
    one_proxy.LOGIN_THROTTLE = {**one_proxy.LOGIN_THROTTLE, "per_ip_per_minute": 4}
    throttled = admin.post("/admin/login/", {"username": "someone", "password": "x", "otp_token": "1"})
    assert throttled.status_code == 429 and "尝试过于频繁" in throttled.content.decode()


# ---- the same class elsewhere: password reset links are limited per phone, not only per address --------


def test_reset_links_to_one_phone_are_limited_whatever_address_asks(one_proxy):
    from tongban.core import notify

    user = UserFactory()
    pages = [
        behind_proxy(f"192.0.2.{n}").post("/password/reset/", {"identifier": user.phone}) for n in range(1, 4)
    ]
    assert [page.status_code for page in pages] == [200, 200, 200]
    assert all("请查看短信" in page.content.decode() for page in pages)  # the page says the same
    assert [message["to"] for message in notify.outbox] == [user.phone]  # one link a minute, not three
    refused = AuditEvent.objects.filter(
        event_type=AuditEventType.PASSWORD_RESET_REQUESTED, extra_data__reason="throttled"
    )
    assert sorted(refused.values_list("ip_address", flat=True)) == ["192.0.2.2", "192.0.2.3"]


def test_an_address_that_keeps_failing_client_authentication_is_refused_for_a_while(one_proxy):
    from tongban.identity.services import system_client_create

    from .factories import DepartmentFactory

    client, secret = system_client_create(
        acting_user=None, department=DepartmentFactory(), name="婚姻登记系统", scopes=["identity.read"]
    )

    def token(address, secret):
        data = {
            "grant_type": "client_credentials",
            "scope": "identity.read",
            "client_id": client.application.client_id,
        }
        return behind_proxy(address).post("/o/token/", {**data, "client_secret": secret})

    for n in range(lockout.CLIENT_AUTH_FAILURES):
        assert token(MALLORY, "guess").status_code == 401, n
    assert token(MALLORY, "guess").status_code == 401  # the one over the limit is still answered …
    refused = token(MALLORY, secret)  # … then the address is refused without checking, even the right one
    assert refused.status_code == 429 and refused.json()["error"] == "invalid_request"
    assert refused["Retry-After"] == str(lockout.CLIENT_AUTH_WINDOW)
    # The department's system, behind the same proxy, still gets its token.
    response = token(ALICE, secret)
    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "Bearer"
