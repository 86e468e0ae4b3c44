"""core.http.safe_next: the one place a `next` is followed."""

import pytest
from django.test import RequestFactory

from tongban.core.http import safe_next


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
