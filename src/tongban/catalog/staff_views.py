"""Catalogue management pages for staff: departments edit their items, the platform (政务办) reviews and
publishes; import and export of the whole catalogue; bundles (一件事)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tongban.identity.errors import NotPermitted
from tongban.identity.models import Department
from tongban.identity.permissions import Perm
from tongban.identity.selectors import departments_where, staff_has_perm
from tongban.identity.services import require_perm
from tongban.identity.views import staff_required

from . import selectors, services, transfer
from .forms import ImportForm, ItemForm, LifeEventForm
from .models import LifeEvent, ServiceItem, ServiceItemVersion
from .validation import CatalogError

CONTENT_TYPES = {
    "json": "application/json",
    "yaml": "application/yaml",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _editable_departments(request: HttpRequest) -> list[tuple[str, str]]:
    return [(d.code, d.name) for d in departments_where(request.user, Perm.CATALOG_EDIT).order_by("code")]


@staff_required(Perm.CATALOG_EDIT)
def item_list(request: HttpRequest) -> HttpResponse:
    items = list(selectors.items_for_editor(request.user).prefetch_related("versions"))
    rows = [(item, max(item.versions.all(), key=lambda v: v.number)) for item in items]
    return render(
        request,
        "catalog/staff/list.html",
        {
            "rows": rows,
            "awaiting": selectors.versions_awaiting_review(request.user),
            "can_publish": staff_has_perm(request.user, Perm.CATALOG_PUBLISH, None),
            "events": LifeEvent.objects.order_by("code"),
        },
    )


@staff_required(Perm.CATALOG_EDIT)
def item_new(request: HttpRequest) -> HttpResponse:
    form = ItemForm(
        request.POST or None,
        departments=_editable_departments(request),
        initial={
            "fee_free": True,
            "max_visits": 0,
            "form_schema": {"type": "object", "properties": {}},
            "workflow": {"steps": []},
            "materials": [],
        },
    )
    if request.method == "POST" and form.is_valid():
        department = get_object_or_404(Department, code=form.cleaned_data["department"])
        content = form.content()
        if not form.errors:
            try:
                version = services.item_create(
                    acting_user=request.user,
                    department=department,
                    basic_code=form.cleaned_data["basic_code"],
                    content=content,
                    request=request,
                )
            except CatalogError as exc:
                form.add_catalog_error(exc)
            except NotPermitted as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("已保存草稿。"))
                return redirect("catalog_staff:item", pk=version.item_id)
    return render(request, "catalog/staff/item_form.html", {"form": form, "title": _("新建事项")})


def _require_item_access(request: HttpRequest, item: ServiceItem, action: str) -> None:
    """Only the owning department's editors and the reviewers may see an item's versions (drafts
    included); anyone else is refused, with an audit trace."""
    if staff_has_perm(request.user, Perm.CATALOG_PUBLISH, item.department):
        return
    require_perm(request.user, Perm.CATALOG_EDIT, item.department, request=request, action=action)


def _item_for(request: HttpRequest, pk: int) -> ServiceItem:
    item = get_object_or_404(ServiceItem.objects.select_related("department", "published_version"), pk=pk)
    _require_item_access(request, item, "item_view")
    return item


@staff_required(Perm.CATALOG_EDIT)
def item_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        item = _item_for(request, pk)
    except NotPermitted as exc:
        return render(request, "403.html", {"message": exc.message}, status=403)
    versions = list(item.versions.select_related("created_by", "reviewed_by").order_by("-number"))
    return render(
        request,
        "catalog/staff/item.html",
        {
            "item": item,
            "versions": versions,
            "latest": versions[0],
            "can_edit": staff_has_perm(request.user, Perm.CATALOG_EDIT, item.department),
            "can_publish": staff_has_perm(request.user, Perm.CATALOG_PUBLISH, item.department),
        },
    )


@staff_required(Perm.CATALOG_EDIT)
def version_edit(request: HttpRequest, pk: int) -> HttpResponse:
    version = get_object_or_404(ServiceItemVersion.objects.select_related("item__department"), pk=pk)
    try:
        _require_item_access(request, version.item, "version_view")
    except NotPermitted as exc:
        return render(request, "403.html", {"message": exc.message}, status=403)
    content = services.content_of(version)
    initial = {**content.fields, "materials": content.materials, "themes": content.themes}
    form = ItemForm(request.POST or None, departments=[], editing=True, initial=initial)
    if request.method == "POST" and form.is_valid():
        new_content = form.content()
        if not form.errors:
            try:
                services.version_update(
                    acting_user=request.user, version=version, content=new_content, request=request
                )
            except CatalogError as exc:
                form.add_catalog_error(exc)
            except NotPermitted as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("已保存草稿。"))
                return redirect("catalog_staff:item", pk=version.item_id)
    title = _("编辑 %(name)s 第 %(n)d 版") % {"name": version.name, "n": version.number}
    return render(request, "catalog/staff/item_form.html", {"form": form, "title": title, "version": version})


@staff_required(Perm.CATALOG_EDIT)
@require_POST
def version_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """One-click lifecycle actions; each calls exactly one service."""
    version = get_object_or_404(ServiceItemVersion.objects.select_related("item__department"), pk=pk)
    reason = request.POST.get("reason", "")
    done = {
        "submit": (
            lambda: services.version_submit(acting_user=request.user, version=version, request=request),
            _("已提交审核。"),
        ),
        "publish": (
            lambda: services.version_publish(acting_user=request.user, version=version, request=request),
            _("已发布。"),
        ),
        "reject": (
            lambda: services.version_reject(
                acting_user=request.user, version=version, comment=reason, request=request
            ),
            _("已退回修改。"),
        ),
        "new-draft": (
            lambda: services.version_new_draft(acting_user=request.user, item=version.item, request=request),
            _("已新建草稿。"),
        ),
        "withdraw": (
            lambda: services.item_withdraw(
                acting_user=request.user, item=version.item, reason=reason, request=request
            ),
            _("事项已撤销，不再对外提供。"),
        ),
    }
    if action not in done:
        return render(request, "404.html", status=404)
    call, message = done[action]
    try:
        call()
    except (CatalogError, NotPermitted) as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, message)
    return redirect("catalog_staff:item", pk=version.item_id)


@staff_required(Perm.CATALOG_PUBLISH)
def import_view(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    errors: list[transfer.RowError] = []
    report = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        fmt = {"yml": "yaml"}.get(
            upload.name.rsplit(".", 1)[-1].lower(), upload.name.rsplit(".", 1)[-1].lower()
        )
        try:
            data, where = transfer.loads(upload.read(), fmt)
            report = transfer.import_catalogue(data, acting_user=request.user, where=where)
        except transfer.ImportRefused as exc:
            errors = exc.errors
    return render(request, "catalog/staff/import.html", {"form": form, "errors": errors, "report": report})


@staff_required(Perm.CATALOG_EDIT)
def export_view(request: HttpRequest, fmt: str) -> HttpResponse:
    if fmt not in CONTENT_TYPES:
        return render(request, "404.html", status=404)
    # The whole catalogue (drafts and life events too) for the platform; a department gets its own items.
    if staff_has_perm(request.user, Perm.CATALOG_PUBLISH, None):
        data = transfer.export_catalogue()
    else:
        data = transfer.export_catalogue(departments=departments_where(request.user, Perm.CATALOG_EDIT))
    response = HttpResponse(transfer.dumps(data, fmt), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="tongban-catalogue.{fmt}"'
    return response


@staff_required(Perm.CATALOG_PUBLISH)
def life_event_edit(request: HttpRequest, code: str | None = None) -> HttpResponse:
    event = get_object_or_404(LifeEvent, code=code) if code else None
    initial = {}
    if event is not None:
        initial = {
            "code": event.code,
            "name": event.name,
            "audience": event.audience,
            "summary": event.summary,
            "keywords": event.keywords,
            "themes": [t.code for t in event.themes.all()],
            "questions": event.questions,
            "entries": [
                {
                    "item": f"{e.item.department.code}/{e.item.basic_code}",
                    "condition": e.condition,
                    "condition_label": e.condition_label,
                    "field_map": e.field_map,
                }
                for e in event.entries.select_related("item__department")
            ],
        }
    form = LifeEventForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        departments = dict(Department.objects.values_list("code", "uscc"))
        entries = form.entry_list(departments)
        if not form.errors:
            data = form.cleaned_data
            try:
                saved = services.life_event_save(
                    acting_user=request.user,
                    code=data["code"],
                    name=data["name"],
                    audience=data["audience"],
                    summary=data["summary"],
                    entries=entries,
                    questions=data.get("questions") or {},
                    themes=data["themes"],
                    keywords=data["keywords"],
                    request=request,
                )
                if request.POST.get("publish"):
                    services.life_event_publish(acting_user=request.user, life_event=saved, request=request)
            except CatalogError as exc:
                form.add_catalog_error(exc)
            except NotPermitted as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("已发布。") if request.POST.get("publish") else _("已保存草稿。"))
                return redirect("catalog_staff:list")
    return render(request, "catalog/staff/life_event_form.html", {"form": form, "event": event})
