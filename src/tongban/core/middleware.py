"""Request ids for logs, the request body size cap, and security headers that Django's SecurityMiddleware
does not set."""

import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.locale import LocaleMiddleware
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _

from .logging import request_id_var

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id_for(incoming: str) -> str:
    """The proxy's X-Request-ID when well-formed, else a new one."""
    return incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Takes X-Request-ID from a trusted proxy (when well-formed) or makes one, and echoes it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_for(request.headers.get("X-Request-ID", ""))
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


log = logging.getLogger(__name__)


def allow_large_body(mb: int) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Let a staff page take a larger request body than TONGBAN_MAX_UPLOAD_MB (the registry bulk load),
    for signed-in users only: an anonymous request to it still meets the default cap."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        view.max_body_mb = mb  # type: ignore[attr-defined]
        return view

    return decorator


class RequestSizeLimitMiddleware:
    """Refuses a request whose body is over TONGBAN_MAX_UPLOAD_MB (or its view's allow_large_body), from its
    Content-Length, before anything reads it: CSRF's process_view reads request.POST, and Django streams
    every uploaded file to disk before a view can refuse it (a 60 MB upload was read whole, then refused).
    It works in process_view, which runs before CSRF's (it comes first in MIDDLEWARE) and after every
    process_request (none of which reads the body), so the view and the user are known. The reverse proxy's
    client_max_body_size should match. Answers 413: JSON under /api/ and /o/, a page elsewhere."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        raw = request.META.get("CONTENT_LENGTH") or "0"
        length = int(raw) if raw.isascii() and raw.isdigit() else -1
        if length < 0:
            return self._refuse(request, 400, "bad_request", _("请求的 Content-Length 无效。"))
        limit_mb = settings.TONGBAN_MAX_UPLOAD_MB
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            limit_mb = max(limit_mb, getattr(view, "max_body_mb", 0))
        if length <= limit_mb * 1024 * 1024:
            return None
        log.warning("request body of %d bytes refused (limit %d MB): %s", length, limit_mb, request.path)
        message = _("提交的内容超过 %(n)dMB 上限，未被接收。请压缩文件或分次上传后重试。") % {"n": limit_mb}
        return self._refuse(request, 413, "too_large", message)

    def _refuse(self, request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
        if request.path.startswith(("/api/", "/o/")):
            response: HttpResponse = JsonResponse({"code": code, "message": message}, status=status)
        else:
            response = render(request, "413.html", {"message": message}, status=status)
        response.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # The interactive API docs load Swagger UI assets and inline scripts; every other page is strict.
        if not request.path.startswith("/api/docs"):
            response.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response


class PortalLocaleMiddleware(LocaleMiddleware):
    """Pages are in Simplified Chinese unless the person chose English with the switch (a cookie); the
    browser's Accept-Language is ignored there, since many phones in China report an English locale.
    The JSON API honours Accept-Language, which is how other systems ask for a language."""

    def process_request(self, request: HttpRequest) -> None:
        if request.path.startswith("/api/"):
            super().process_request(request)
            return
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
