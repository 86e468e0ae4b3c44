"""Small request helpers shared by every app's views."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request: HttpRequest, default: str) -> str:
    """The ``next`` the request carries (POST, then GET) when it stays on this site, else ``default``.
    Every view that follows a ``next`` goes through here: an address on another host, a scheme-relative
    ``//host`` or a ``javascript:`` URL is an open redirect."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default
