"""A lean way in for the gateway's busiest call, reading a record by key
(``GET /api/exchange/gateway/{code}/records/{key}``).

Other government systems call it hundreds of times a second, and the page stack (sessions, CSRF, OTP,
messages, locale, axes, URL resolution, ninja) cost as much CPU as the call itself. This WSGI wrapper
answers that one route with the same checks and the same bytes. It uses the same bearer-token check
(``ClientScope``), the same ``gateway.answer`` and the same refusal logging. It sends the response headers
the stack would send and Django's request signals (database connections are managed as usual).

Everything else, including anything it does not recognise, goes to Django unchanged:
- an audience-restricted token;
- plain HTTP where HTTPS is required;
- a disallowed Host.

``TONGBAN_GATEWAY_FAST_PATH=0`` turns it off. The tests compare its answers with the router's."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.core import signals
from django.core.serializers.json import DjangoJSONEncoder
from django.http.request import split_domain_port, validate_host

from tongban.core.logging import request_id_var
from tongban.core.middleware import request_id_for

logger = logging.getLogger(__name__)

PREFIX = "/api/exchange/gateway/"
RECORD = re.compile(r"^/api/exchange/gateway/(?P<code>[^/]+)/records/(?P<key>[^/]+)$")
STATUS_TEXT = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class GatewayFastPath:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.enabled = getattr(settings, "TONGBAN_GATEWAY_FAST_PATH", True)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not self.enabled or environ.get("REQUEST_METHOD") != "GET" or not path.startswith(PREFIX):
            return self.app(environ, start_response)
        try:
            path = path.encode("latin-1").decode("utf-8")  # PEP 3333: the server hands bytes as latin-1
        except UnicodeError:
            return self.app(environ, start_response)
        match = RECORD.match(path)
        if match is None or not self._plain_enough(environ):
            return self.app(environ, start_response)
        signals.request_started.send(sender=self.__class__, environ=environ)
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        token = request_id_var.set(request_id)
        try:
            result = self._answer(environ, path, match)
            if result is None:  # a token only the full OAuth check can judge
                return self.app(environ, start_response)
            status, body = result
        except Exception:
            logger.exception("gateway fast path failed")
            status, body = 500, {"detail": "Internal server error"}
        finally:
            request_id_var.reset(token)
            signals.request_finished.send(sender=self.__class__)
        payload = json.dumps(body, cls=DjangoJSONEncoder).encode()
        headers = self._headers(request_id, payload, secure=_secure(environ))
        if status == 401:  # ninja's own refusal carries the charset; the gateway's JsonResponse does not
            headers[0] = ("Content-Type", "application/json; charset=utf-8")
        start_response(f"{status} {STATUS_TEXT.get(status, '')}".strip(), headers)
        return [payload]

    @staticmethod
    def _plain_enough(environ: dict[str, Any]) -> bool:
        """Host allowed and, where HTTPS is required, HTTPS: otherwise Django answers (400, redirect)."""
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
        domain, _port = split_domain_port(host)
        allowed = settings.ALLOWED_HOSTS or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
        if not domain or not validate_host(domain, allowed):
            return False
        return _secure(environ) or not settings.SECURE_SSL_REDIRECT

    def _answer(self, environ: dict[str, Any], path: str, match: re.Match[str]) -> tuple[int, dict] | None:
        from . import api, gateway

        authorization = environ.get("HTTP_AUTHORIZATION", "")
        mediator = environ.get("HTTP_INFORMATION_MEDIATOR_CLIENT", "")
        scheme, _, bearer = authorization.partition(" ")
        client = api.READ.check(bearer) if scheme.lower() == "bearer" and bearer else None
        if client is api.READ.FULL_CHECK:
            return None
        if client is None:
            api.log_refusal(authorization, path, mediator)
            return 401, {"detail": "Unauthorized"}
        query = environ.get("QUERY_STRING", "")
        with contextlib.suppress(UnicodeEncodeError):  # else not from a PEP 3333 server: already text
            query = query.encode("latin-1").decode("utf-8", "replace")
        params = parse_qs(query)
        call = gateway.Call(
            client=client,
            resource_code=match["code"],
            key=match["key"][:120],
            fields=api.gateway_fields(params.get("fields", [""])[-1]),
            purpose=params.get("purpose", [""])[-1][:300],
            mediator=api.mediator_of(mediator),
        )
        return gateway.answer(call)

    @staticmethod
    def _headers(request_id: str, payload: bytes, *, secure: bool) -> list[tuple[str, str]]:
        """What the page stack's middleware adds to a JSON response (SecurityMiddleware, ours, XFrame)."""
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            ("X-Request-ID", request_id),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY),
            ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
        ]
        if settings.SECURE_REFERRER_POLICY:
            headers.append(("Referrer-Policy", settings.SECURE_REFERRER_POLICY))
        if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
            headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
        if settings.SECURE_HSTS_SECONDS and secure:
            value = f"max-age={settings.SECURE_HSTS_SECONDS}"
            if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
                value += "; includeSubDomains"
            if settings.SECURE_HSTS_PRELOAD:
                value += "; preload"
            headers.append(("Strict-Transport-Security", value))
        return headers


def _secure(environ: dict[str, Any]) -> bool:
    header = settings.SECURE_PROXY_SSL_HEADER
    return environ.get("wsgi.url_scheme") == "https" or (
        header is not None and environ.get(header[0], "").split(",")[0].strip() == header[1]
    )
