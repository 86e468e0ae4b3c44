"""Small request helpers shared by every app's views."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address

from django.conf import settings
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


def _address(value: str | None) -> IPv4Address | IPv6Address | None:
    """``value`` as an address, or None when it is not a bare IPv4/IPv6 address (no port, no zone)."""
    try:
        address = ip_address((value or "").strip())
    except ValueError:
        return None
    if isinstance(address, IPv6Address):
        if address.scope_id:
            return None
        # A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d: one client, one address.
        return address.ipv4_mapped or address
    return address


def _client_address(request: HttpRequest) -> IPv4Address | IPv6Address | None:
    remote = _address(request.META.get("REMOTE_ADDR"))
    proxies = settings.TONGBAN_TRUSTED_PROXIES
    if not proxies:
        return remote
    # Each trusted proxy appends the address it was connected from; whatever a client sent itself stands to
    # the left of those and is never read. The proxy nearest to us is REMOTE_ADDR; the client is the
    # address the outermost trusted proxy appended, ``proxies`` places from the right.
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    if len(hops) < proxies:
        return remote  # did not come through every trusted proxy: the header is not theirs
    trusted = [_address(hop) for hop in hops[-proxies:]]
    if any(hop is None for hop in trusted):
        return remote  # malformed: a proxy that is not configured as documented
    return trusted[0]


def client_ip(request: HttpRequest | None) -> str | None:
    """The address of the client that sent ``request``: REMOTE_ADDR, or behind TONGBAN_TRUSTED_PROXIES
    reverse proxies the address the outermost of them saw (from X-Forwarded-For). Malformed values fall
    back to REMOTE_ADDR; None when there is no address at all.
    Login, every per-client throttle, django-axes (through client_bucket) and the audit trail take the
    client's address from here and nowhere else."""
    if request is None:
        return None
    address = _client_address(request)
    return str(address) if address is not None else None


def client_bucket(request: HttpRequest | None) -> str | None:
    """What per-client limits count by: the client's address; for IPv6 its /64 network (written as its
    first address), because one subscriber is given a whole /64 and could otherwise take a fresh address
    for every try. django-axes locks (account, client_bucket) pairs."""
    if request is None:
        return None
    address = _client_address(request)
    if isinstance(address, IPv6Address):
        return str(IPv6Network((address, 64), strict=False).network_address)
    return str(address) if address is not None else None
