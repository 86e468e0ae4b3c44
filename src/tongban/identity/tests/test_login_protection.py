"""Login protection behind the reverse proxy: each client counts apart (issue 15 #5), and a stranger
cannot lock somebody else's account (issue 15, low: lockout by account and address, with a delay)."""

import pytest
from axes.models import AccessAttempt
from django.test import Client

from tongban.core.constants import AuditEventType
from tongban.core.models import AuditEvent

from .factories import PASSWORD, UserFactory, _next_id_number

pytestmark = pytest.mark.django_db
LOGIN = "/login/"
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
