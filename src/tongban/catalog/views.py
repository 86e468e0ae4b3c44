"""Public catalogue pages: browse, search, guides (办事指南) for items and bundles."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render

from tongban.identity.models import Area, Department

from . import search, selectors, services
from .constants import Audience
from .models import LifeEvent, ServiceItem, Theme


def _audience(request: HttpRequest) -> str:
    value = request.GET.get("for", Audience.PERSON)
    return value if value in Audience.values else Audience.PERSON


def browse(request: HttpRequest) -> HttpResponse:
    audience = _audience(request)
    return render(
        request,
        "catalog/browse.html",
        {
            "audience": audience,
            "audiences": Audience.choices,
            "themes": selectors.themes_for(audience),
            "life_events": selectors.published_life_events(audience),
            "popular": selectors.items_for_browse(audience=audience)[:10],
            "departments": selectors.departments_with_items(),
        },
    )


def search_page(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:200]
    applicant = request.GET.get("for") or None
    department = Department.objects.filter(code=request.GET.get("department", "")).first()
    theme = Theme.objects.filter(code=request.GET.get("theme", "")).first()
    area = Area.objects.filter(code=request.GET.get("area", "")).first()
    hits = search.search(
        query,
        applicant_type={"person": "person", "organisation": "organisation"}.get(applicant or ""),
        department_id=department.pk if department else None,
        theme=theme.code if theme else None,
        area_code=area.code if area else None,
        limit=50,
    )
    items = {
        i.pk: i for i in ServiceItem.objects.filter(pk__in=[h.object_id for h in hits if h.kind == "item"])
    }
    events = {
        e.pk: e for e in LifeEvent.objects.filter(pk__in=[h.object_id for h in hits if h.kind == "event"])
    }
    results = [
        {"hit": h, "item": items.get(h.object_id)}
        if h.kind == "item"
        else {"hit": h, "event": events.get(h.object_id)}
        for h in hits
    ]
    return render(
        request,
        "catalog/search.html",
        {
            "query": query,
            "results": [r for r in results if r.get("item") or r.get("event")],
            "department": department,
            "theme": theme,
            "area": area,
            "areas": selectors.areas_with_items(),
            "applicant": applicant,
            "departments": selectors.departments_with_items(),
            "themes": Theme.objects.all(),
        },
    )


def suggest(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"suggestions": search.suggest(request.GET.get("q", "")[:60])})


def guide(request: HttpRequest, code: str) -> HttpResponse:
    item = selectors.published_item(code)
    if item is None:
        raise Http404
    selectors.item_viewed(item)
    version = item.published_version
    themes = list(version.themes.all())
    return render(
        request,
        "catalog/guide.html",
        {
            "item": item,
            "version": version,
            "materials": list(version.materials.all()),
            "stages": selectors.workflow_stages(version),
            "themes": themes,
            "fields": _fields(version.form_schema),
        },
    )


def _fields(schema: dict) -> list[dict]:
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "title": prop.get("title", name),
            "required": name in required,
            "prefilled": "x-prefill" in prop,
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def life_event_guide(request: HttpRequest, code: str) -> HttpResponse:
    event = selectors.life_event(code)
    if event is None:
        raise Http404
    selectors.life_event_viewed(event)
    merged = services.merged_form(event)
    entries = list(event.entries.select_related("item__published_version", "item__department"))
    return render(
        request,
        "catalog/life_event.html",
        {
            "event": event,
            "entries": entries,
            "merged": merged,
            "fields": _fields(merged.schema),
            "themes": list(event.themes.all()),
        },
    )


def department_items(request: HttpRequest, code: str) -> HttpResponse:
    department = get_object_or_404(Department, code=code)
    page = Paginator(selectors.items_for_browse(department=department), 30).get_page(request.GET.get("page"))
    return render(
        request, "catalog/list.html", {"title": department.name, "page": page, "department": department}
    )


def theme_items(request: HttpRequest, code: str) -> HttpResponse:
    theme = get_object_or_404(Theme, code=code)
    page = Paginator(selectors.items_for_browse(theme=theme.code), 30).get_page(request.GET.get("page"))
    events = selectors.published_life_events().filter(themes=theme)
    return render(
        request, "catalog/list.html", {"title": theme.name, "page": page, "theme": theme, "events": events}
    )
