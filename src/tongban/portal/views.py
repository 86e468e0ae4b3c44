from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from tongban.catalog import selectors as catalog_selectors
from tongban.identity.constants import AreaLevel
from tongban.identity.models import Department


def home(request: HttpRequest) -> HttpResponse:
    departments = Department.objects.filter(is_active=True, level=AreaLevel.CITY).order_by("code")
    return render(
        request,
        "portal/home.html",
        {
            "departments": departments,
            "life_events": catalog_selectors.published_life_events()[:6],
            "popular": catalog_selectors.published_items()[:8],
        },
    )


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "403.html", status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "500.html", status=500)
