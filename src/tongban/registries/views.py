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
from tongban.identity.permissions import Perm
from tongban.identity.selectors import departments_where, staff_has_perm
from tongban.identity.views import staff_required

from . import quality, services
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
    """Look a record up by key: its current values (restricted fields for the owner only) and its full
    change history. Every look-up is logged like an API read, for the person's data-usage record."""
    from . import access
    from .models import RecordChange

    registry = get_object_or_404(Registry.objects.select_related("owner"), code=code)
    key = request.GET.get("key", "").strip()[:120]
    record = access.by_key(registry, key) if key else None
    owner = staff_has_perm(request.user, Perm.DATA_VIEW, registry.owner)
    content = access.as_dict(registry, record, full=owner) if record is not None else None
    if record is not None:
        _log_staff_read(request, registry, record, key, content)
    history = RecordChange.objects.filter(registry=registry, key=key).order_by("-at")[:50] if key else []
    return render(
        request,
        "registries/record.html",
        {
            "registry": registry,
            "key": key,
            "content": content,
            "history": history,
            "registries": Registry.objects.all(),
        },
    )


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


def _log_staff_read(
    request: HttpRequest, registry: Registry, record: object, key: str, content: dict
) -> None:
    """The person's data-usage record and the Merkle audit log get the read together (no personal data in
    the log: the key is hashed)."""
    import hashlib

    from django.db import transaction

    from tongban.exchange import auditlog

    from . import access
    from .models import RegistryRead

    department = next(iter(departments_where(request.user, Perm.DATA_VIEW)), None)
    with transaction.atomic():
        RegistryRead.objects.create(
            registry=registry,
            record_key=key,
            subject=access.subject_of(registry, record),
            reader_department=department,
            mediator=f"staff:{request.user.username}"[:300],
            operation="staff_view",
            fields=list(content),
        )
        auditlog.log_append(
            "staff_read",
            {
                "registry": registry.code,
                "key": hashlib.sha256(key.encode()).hexdigest(),
                "staff": request.user.pk,
                "department": department.code if department else None,
                "fields": list(content),
            },
        )
