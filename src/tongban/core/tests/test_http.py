"""core.http: the one place a `next` is followed and the one place a client's address is taken."""

import os
import subprocess
import sys
from ipaddress import ip_address
from pathlib import Path

import pytest
from django.test import RequestFactory
from hypothesis import given
from hypothesis import strategies as st

from tongban.core.http import client_bucket, client_ip, safe_next


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/account/", "/account/"),
        ("/staff/?q=1", "/staff/?q=1"),
        ("http://testserver/x/", "http://testserver/x/"),
        ("https://evil.example/", "/home/"),
        ("//evil.example/", "/home/"),
        ("///evil.example/", "/home/"),
        ("javascript:alert(1)", "/home/"),
        ("https:evil.example", "/home/"),
        ("\\\\evil.example", "/home/"),
        ("", "/home/"),
    ],
)
def test_safe_next(target, expected):
    assert safe_next(RequestFactory().post("/", {"next": target}), "/home/") == expected
    assert safe_next(RequestFactory().get("/", {"next": target}), "/home/") == expected


def test_https_site_refuses_a_downgrade():
    request = RequestFactory().get("/", {"next": "http://testserver/x/"}, secure=True)
    assert safe_next(request, "/home/") == "/home/"


# ---- core.http.client_ip: the client's address behind the trusted proxies (issue 15 #5) ----------------

PROXY = "10.0.0.2"


def _request(forwarded=None, remote=PROXY):
    extra = {"REMOTE_ADDR": remote} if remote is not None else {}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    request = RequestFactory().get("/", **extra)
    if remote is None:
        del request.META["REMOTE_ADDR"]
    return request


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        # No trusted proxy: whatever a client writes into X-Forwarded-For is ignored.
        (0, "198.51.100.7", PROXY),
        # One proxy (nginx $proxy_add_x_forwarded_for): the rightmost address is the client.
        (1, "198.51.100.7", "198.51.100.7"),
        (1, " 198.51.100.7 ", "198.51.100.7"),
        # A client that sends its own header only adds addresses on the left, which are never read.
        (1, "203.0.113.66, 198.51.100.7", "198.51.100.7"),
        (1, "not-an-address, 198.51.100.7", "198.51.100.7"),
        (1, "2001:db8::1", "2001:db8::1"),
        (1, "::ffff:198.51.100.7", "198.51.100.7"),
        # Two proxies: the outer one appended the client, the inner one the outer proxy.
        (2, "198.51.100.7, 10.0.0.1", "198.51.100.7"),
        (2, "203.0.113.66, 198.51.100.7, 10.0.0.1", "198.51.100.7"),
        # Malformed, or not through every trusted proxy: REMOTE_ADDR.
        (1, "", PROXY),
        (1, None, PROXY),
        (1, "198.51.100.7:4431", PROXY),
        (1, "[2001:db8::1]", PROXY),
        (1, "fe80::1%eth0", PROXY),
        (1, "unknown", PROXY),
        (1, "198.51.100.7,", PROXY),
        (2, "198.51.100.7", PROXY),
        (2, "198.51.100.7, garbage", PROXY),
    ],
)
def test_client_ip_takes_the_address_the_trusted_proxies_saw(settings, proxies, forwarded, expected):
    settings.TONGBAN_TRUSTED_PROXIES = proxies
    assert client_ip(_request(forwarded)) == expected


def test_client_ip_without_any_address(settings):
    settings.TONGBAN_TRUSTED_PROXIES = 1
    assert client_ip(None) is None
    assert client_ip(_request(None, remote=None)) is None
    assert client_ip(_request("garbage", remote="")) is None
    assert client_ip(_request("198.51.100.7", remote="")) == "198.51.100.7"  # proxy on a unix socket


def test_client_bucket_counts_ipv6_by_its_64(settings):
    settings.TONGBAN_TRUSTED_PROXIES = 1
    assert client_bucket(_request("2001:db8:1:2:aaaa::1")) == "2001:db8:1:2::"
    assert client_bucket(_request("2001:db8:1:2:bbbb::9")) == "2001:db8:1:2::"
    assert client_bucket(_request("2001:db8:1:3::1")) == "2001:db8:1:3::"
    assert client_bucket(_request("198.51.100.7")) == "198.51.100.7"
    assert client_bucket(_request("garbage")) == PROXY
    assert client_ip(_request("2001:db8:1:2:aaaa::1")) == "2001:db8:1:2:aaaa::1"  # the trail keeps it whole


addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
junk = st.text(st.characters(blacklist_characters=","), max_size=20)


@given(
    proxies=st.integers(1, 3),
    spoofed=st.lists(st.one_of(addresses, junk), max_size=4),
    client=addresses,
    hops=st.lists(addresses, min_size=3, max_size=3),
)
def test_what_a_client_prepends_never_changes_its_address(proxies, spoofed, client, hops):
    from django.test import override_settings

    chain = [*spoofed, client, *hops[: proxies - 1]]
    with override_settings(TONGBAN_TRUSTED_PROXIES=proxies):
        got = client_ip(_request(", ".join(chain)))
    expected = ip_address(client)
    assert got == str(getattr(expected, "ipv4_mapped", None) or expected)


@given(st.text(max_size=60), st.integers(0, 3))
def test_any_header_gives_an_address_of_the_header_or_remote_addr(forwarded, proxies):
    from django.test import override_settings

    with override_settings(TONGBAN_TRUSTED_PROXIES=proxies):
        got = client_ip(_request(forwarded))
    assert got == PROXY or ip_address(got) is not None


def _run_production(code, **env):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TONGBAN_", "DJANGO_"))}
    base |= {"TONGBAN_SECRET_KEY": "x" * 50, "TONGBAN_ALLOWED_HOSTS": "gov.example.cn", **env}
    base["DJANGO_SETTINGS_MODULE"] = "tongban.settings.production"
    base["PYTHONPATH"] = str(
        Path(__file__).resolve().parents[3]
    )  # this checkout's tongban, not an installed one
    return subprocess.run([sys.executable, "-c", code], env=base, capture_output=True, text=True, check=False)


PRODUCTION_CHECK = """
import django
django.setup()
from django.conf import settings
from django.test import RequestFactory
from axes.helpers import get_client_ip_address
from tongban.core.services import client_ip
r = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.66, 198.51.100.7, 10.0.0.1")
print(settings.TONGBAN_TRUSTED_PROXIES, client_ip(r), get_client_ip_address(r))
"""


def test_production_settings_take_the_client_behind_the_documented_proxy(tmp_path):
    """With the README's TONGBAN_BEHIND_PROXY=1 the production settings read one proxy's X-Forwarded-For,
    for the audit trail and for django-axes alike."""
    env = {"TONGBAN_DATA_DIR": str(tmp_path)}
    result = _run_production(PRODUCTION_CHECK, **env, TONGBAN_BEHIND_PROXY="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "10.0.0.1", "10.0.0.1"]
    result = _run_production(PRODUCTION_CHECK, **env, TONGBAN_BEHIND_PROXY="1", TONGBAN_TRUSTED_PROXIES="2")
    assert result.stdout.split() == ["2", "198.51.100.7", "198.51.100.7"], result.stderr
    result = _run_production(PRODUCTION_CHECK, **env)
    assert result.stdout.split() == ["0", "10.0.0.2", "10.0.0.2"], result.stderr  # no proxy: REMOTE_ADDR
    result = _run_production(PRODUCTION_CHECK, **env, TONGBAN_TRUSTED_PROXIES="one")
    assert result.returncode != 0 and "TONGBAN_TRUSTED_PROXIES" in result.stderr
