"""Staff pages: the data-quality dashboard (scores, worst rules and departments, trends) and the
correction ledger (纠错) where the owning department re-checks a corrected record or explains a kept one."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tongban.core.http import safe_next
from tongban.core.middleware import allow_large_body
from tongban.identity.models import Department, StaffRole
from tongban.identity.permissions import ROLE_PERMISSIONS, Perm
from tongban.identity.selectors import departments_where, staff_has_perm
from tongban.identity.views import staff_required

from . import access, quality, reads, services
from .models import QualityIssue, QualityRun, Registry


@staff_required(Perm.DATA_VIEW)
def dashboard(request: HttpRequest) -> HttpResponse:
    registries = []
    for registry in Registry.objects.select_related("owner"):
        run = QualityRun.objects.filter(registry=registry, finished_at__isnull=False).first()
        worst = sorted((run.results.items() if run else []), key=lambda pair: pair[1]["score"])[:5]
        registries.append(
            {"registry": registry, "run": run, "worst": worst, "trend": quality.trend(registry, 12)}
        )
    return render(
        request,
        "registries/dashboard.html",
        {"registries": registries, "departments": quality.department_scores()},
    )


@staff_required(Perm.DATA_VIEW)
def ledger(request: HttpRequest) -> HttpResponse:
    """Open issues of the registries the officer's departments own (all of them for the platform)."""
    owned = departments_where(request.user, Perm.DATA_MANAGE)
    issues = QualityIssue.objects.filter(
        status=QualityIssue.OPEN, rule__registry__owner__in=owned
    ).select_related("rule__registry")
    rule = request.GET.get("rule", "")
    if rule:
        issues = issues.filter(rule__code=rule)
    page = Paginator(issues.order_by("rule__code", "record_key"), 50).get_page(request.GET.get("page"))
    return render(request, "registries/ledger.html", {"page": page, "rule": rule})


@staff_required(Perm.DATA_MANAGE)
@require_POST
def issue_action(request: HttpRequest, issue_id: int) -> HttpResponse:
    issue = get_object_or_404(QualityIssue.objects.select_related("rule__registry__owner"), pk=issue_id)
    try:
        if request.POST.get("action") == "explain":
            services.quality_issue_explain(
                acting_user=request.user, issue=issue, reason=request.POST.get("reason", ""), request=request
            )
            messages.success(request, _("已记录说明，该问题不再计入扣分。"))
        elif services.quality_issue_recheck(acting_user=request.user, issue=issue, request=request):
            messages.success(request, _("复核通过，问题已关闭。"))
        else:
            messages.error(request, _("复核未通过：记录仍不符合规则，请先在源系统或基础库中纠正。"))
    except services.AccessError as exc:
        if exc.status == 403:  # another department's issue: as if it did not exist (the refusal is audited)
            raise Http404 from None
        messages.error(request, exc.message)
    return redirect(safe_next(request, reverse("registries:ledger")))  # back to the page, if it is ours


MAX_UPLOAD = 200 * 1024 * 1024  # larger loads go through `tongban registry_load`


@allow_large_body(MAX_UPLOAD // (1024 * 1024) + 5)
@staff_required(Perm.DATA_MANAGE)
def load_page(request: HttpRequest) -> HttpResponse:
    """Upload a CSV, Excel or JSON file into a registry the officer's department owns, with a column
    mapping (one `field=column` per line); the report lists rejected rows with line and reason."""
    from . import loader

    owned = Registry.objects.filter(owner__in=departments_where(request.user, Perm.DATA_MANAGE)).exclude(
        kind="custom"
    )
    job = None
    if request.method == "POST":
        registry = owned.filter(pk=request.POST.get("registry")).first()
        upload = request.FILES.get("file")
        mapping = dict(
            line.split("=", 1) for line in request.POST.get("mapping", "").splitlines() if "=" in line
        )
        if registry is None or upload is None:
            messages.error(request, _("请选择本部门主管的库并上传文件。"))
        elif upload.size > MAX_UPLOAD:
            messages.error(request, _("文件超过 200MB，请用命令 tongban registry_load 导入。"))
        else:
            try:
                rows = list(loader.read_rows(upload.name, upload.read()))
            except (ValueError, UnicodeDecodeError, KeyError) as exc:
                messages.error(request, _("无法读取文件：%(e)s") % {"e": exc})
            else:
                try:
                    job = services.registry_load(
                        acting_user=request.user,
                        registry=registry,
                        rows=rows,
                        source=request.POST.get("source", "").strip() or upload.name,
                        mapping={k.strip(): v.strip() for k, v in mapping.items()},
                        request=request,
                    ).job
                except services.AccessError as exc:
                    messages.error(request, exc.message)
                else:
                    messages.success(
                        request,
                        _("已导入 %(a)d 行，拒收 %(r)d 行。") % {"a": job.accepted, "r": job.rejected},
                    )
    fields = {r.pk: [f.name for f in loader.FIELDS[r.kind]] for r in owned}
    return render(request, "registries/load.html", {"registries": owned, "job": job, "fields": fields})


@staff_required(Perm.DATA_VIEW)
def record_page(request: HttpRequest, code: str) -> HttpResponse:
    """Look a record up by key. Staff of the owning department see every field and the change history;
    staff of any other department read through their department's grants, as its systems do (the fields
    the catalogue releases to it, masked as granted, no history). Every look-up is recorded like a
    Digital Registries API read: in the person's data-usage record and the Merkle audit log."""
    from .models import RecordChange

    registry = get_object_or_404(Registry.objects.select_related("owner"), code=code)
    key = request.GET.get("key", "").strip()[:120]
    department, view = _reader(request, registry)
    context = {"registry": registry, "key": key, "content": None, "history": [], "shared": view is not None}
    if department is None or (view is None and department.pk != registry.owner_id):
        context["refused"] = _("该库没有向本部门共享任何数据。如因履职需要，请在资源目录中提交共享申请。")
        return render(request, "registries/record.html", context, status=403)
    record = access.by_key(registry, key) if key else None
    if record is not None:
        data = access.as_dict(registry, record, full=True)
        content = data if view is None else view.show(data)
        if content:  # a record outside the department's grants is not there for it
            context["content"] = content
            reads.log_reads(
                kind="staff_read",
                registry=registry,
                records=[record],
                operation="staff_view",
                fields=list(content),
                view=view,
                department=department,
                mediator=f"staff:{request.user.username}",
                entry={"staff": request.user.pk},
            )
    if key and view is None:
        context["history"] = RecordChange.objects.filter(registry=registry, key=key).order_by("-at")[:50]
    return render(request, "registries/record.html", context)


def _reader(request: HttpRequest, registry: Registry) -> tuple[Department | None, access.View | None]:
    """The department a staff member reads the registry for, and what it may see (None: everything).
    The owning department, if they hold a data role in it; else the first (by code) of the departments
    where they hold a role that reads data, through the sharing catalogue (``access.sharing_policy``)."""
    roles = [role for role, perms in ROLE_PERMISSIONS.items() if Perm.DATA_VIEW in perms]
    departments = [
        r.department
        for r in StaffRole.objects.filter(user=request.user, role__in=roles, department__is_active=True)
        .select_related("department")
        .order_by("department__code")
    ]
    if any(d.pk == registry.owner_id for d in departments):
        return registry.owner, None
    if not departments:
        return None, None
    return departments[0], access.sharing_policy(registry, departments[0].pk)


@staff_required(Perm.DATA_MANAGE)
@require_POST
def run_now(request: HttpRequest, code: str) -> HttpResponse:
    """On demand: check one registry now (in the background where Celery has workers)."""
    from .tasks import quality_run

    registry = get_object_or_404(Registry.objects.select_related("owner"), code=code)
    if not staff_has_perm(request.user, Perm.DATA_MANAGE, registry.owner):
        raise Http404
    quality_run.delay(registry.pk)
    messages.success(request, _("已开始检查“%(r)s”，完成后得分会更新。") % {"r": registry.name})
    return redirect("registries:dashboard")
