"""Pages of data sharing: the catalogue (browse, search, request), the request desk of consumers and
providers, grants (revoke; covert hold-back by the data bureau), the audit log's checkpoints, and the
citizen's data tracker (我的数据被谁用了)."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from tongban.identity.errors import NotPermitted
from tongban.identity.models import Department, SystemClient
from tongban.identity.permissions import Perm
from tongban.identity.selectors import acting_codes, departments_where, staff_has_perm
from tongban.identity.views import staff_required

from . import auditlog, bulk, gateway, services, tracker
from .models import (
    Checkpoint,
    Grant,
    RequestStatus,
    Resource,
    ShareRequest,
    ShareType,
    Subscription,
)


@staff_required(Perm.DATA_VIEW)
def catalogue(request: HttpRequest) -> HttpResponse:
    resources = Resource.objects.filter(is_active=True).select_related("owner")
    q = request.GET.get("q", "").strip()[:50]
    department = request.GET.get("department", "")
    theme = request.GET.get("theme", "")
    share_type = request.GET.get("share_type", "")
    if q:
        resources = resources.filter(
            Q(name__icontains=q) | Q(description__icontains=q) | Q(code__icontains=q)
        )
    if department:
        resources = resources.filter(owner__code=department)
    if theme:
        resources = resources.filter(theme=theme)
    if share_type:
        resources = resources.filter(share_type=share_type)
    owners = Department.objects.filter(resources__isnull=False).distinct().order_by("code")
    themes = Resource.objects.exclude(theme="").values_list("theme", flat=True).distinct().order_by("theme")
    return render(
        request,
        "exchange/catalogue.html",
        {
            "page": Paginator(resources, 30).get_page(request.GET.get("page")),
            "q": q,
            "department": department,
            "theme": theme,
            "share_type": share_type,
            "owners": owners,
            "themes": themes,
            "share_types": ShareType.choices,
        },
    )


def _consumer_departments(request: HttpRequest, resource: Resource) -> list[Department]:
    return [d for d in departments_where(request.user, Perm.DATA_MANAGE) if d.pk != resource.owner_id]


@staff_required(Perm.DATA_VIEW)
def resource_detail(request: HttpRequest, code: str) -> HttpResponse:
    resource = get_object_or_404(Resource.objects.select_related("owner", "registry"), code=code)
    consumers = _consumer_departments(request, resource)
    problems: dict[str, str] = {}
    if request.method == "POST":
        consumer = next((d for d in consumers if str(d.pk) == request.POST.get("consumer")), None)
        if consumer is None:
            messages.error(request, _("您没有以该部门名义申请数据的权限。"))
        else:
            try:
                share_request = services.share_request_submit(
                    acting_user=request.user,
                    resource=resource,
                    consumer=consumer,
                    purpose=request.POST.get("purpose", ""),
                    legal_basis=request.POST.get("legal_basis", ""),
                    fields=request.POST.getlist("fields"),
                    scope_areas=[a for a in request.POST.get("scope_areas", "").split() if a.isdigit()],
                    duration_days=_int(request.POST.get("duration_days"), 365),
                    rate_per_minute=_int(request.POST.get("rate_per_minute"), 600),
                    request=request,
                )
            except services.ExchangeError as exc:
                messages.error(request, exc.message)
                problems = exc.problems
            else:
                messages.success(
                    request,
                    _("共享申请 %(n)s 已提交，提供部门应在 %(d)s 前答复。")
                    % {"n": share_request.number, "d": share_request.due_on.isoformat()},
                )
                return redirect("exchange:request", number=share_request.number)
    grants = Grant.objects.filter(resource=resource, revoked_at__isnull=True, expires_at__gt=timezone.now())
    return render(
        request,
        "exchange/resource.html",
        {
            "resource": resource,
            "fields": resource.fields.all(),
            "consumers": consumers,
            "problems": problems,
            "post": request.POST,
            "grants": grants.select_related("consumer"),
            "subscriber_clients": _subscriber_clients(request) if resource.via_bulk else [],
        },
    )


def _int(value: str | None, default: int) -> int:
    try:
        return int(value or default)
    except ValueError:
        return -1  # refused by the service with a message


@staff_required(Perm.DATA_VIEW)
def requests_desk(request: HttpRequest) -> HttpResponse:
    """Requests to answer (as provider; the data bureau sees every overdue one) and requests made."""
    mine = departments_where(request.user, Perm.DATA_VIEW)
    base = ShareRequest.objects.select_related("resource__owner", "consumer")
    incoming = base.filter(resource__owner__in=mine)
    operator = services.operator_department()
    if operator is not None and staff_has_perm(request.user, Perm.DATA_VIEW, operator):
        incoming = base.filter(Q(resource__owner__in=mine) | Q(escalated_at__isnull=False))
    today = timezone.localdate()
    return render(
        request,
        "exchange/requests.html",
        {
            "incoming": incoming.order_by("status", "due_on")[:200],
            "outgoing": base.filter(consumer__in=mine)[:200],
            "today": today,
        },
    )


@staff_required(Perm.DATA_VIEW)
def request_detail(request: HttpRequest, number: str) -> HttpResponse:
    share_request = get_object_or_404(
        ShareRequest.objects.select_related("resource__owner", "consumer", "requested_by", "answered_by"),
        number=number,
    )
    provider = staff_has_perm(request.user, Perm.DATA_MANAGE, share_request.resource.owner)
    consumer = staff_has_perm(request.user, Perm.DATA_MANAGE, share_request.consumer)
    viewer = staff_has_perm(request.user, Perm.DATA_VIEW, share_request.resource.owner) or staff_has_perm(
        request.user, Perm.DATA_VIEW, share_request.consumer
    )
    operator = services.operator_department()
    if not viewer and not (operator and staff_has_perm(request.user, Perm.DATA_VIEW, operator)):
        raise Http404
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action in {"approve", "refuse"} and provider:
                services.share_request_answer(
                    acting_user=request.user,
                    share_request=share_request,
                    approve=action == "approve",
                    reason=request.POST.get("reason", ""),
                    fields=request.POST.getlist("fields"),
                    clear_fields=request.POST.getlist("clear_fields"),
                    request=request,
                )
                messages.success(
                    request, _("已同意，授权即时生效。") if action == "approve" else _("已拒绝并告知理由。")
                )
            elif action == "withdraw" and consumer:
                services.share_request_withdraw(
                    acting_user=request.user, share_request=share_request, request=request
                )
                messages.success(request, _("申请已撤回。"))
            else:
                raise Http404
        except services.ExchangeError as exc:
            messages.error(request, exc.message)
        return redirect("exchange:request", number=number)
    fields = {f.name: f for f in share_request.resource.fields.all()}
    return render(
        request,
        "exchange/request.html",
        {
            "r": share_request,
            "fields": [fields[n] for n in share_request.fields if n in fields],
            "can_answer": provider and share_request.status == RequestStatus.PENDING,
            "can_withdraw": consumer and share_request.status == RequestStatus.PENDING,
            "today": timezone.localdate(),
        },
    )


@staff_required(Perm.DATA_VIEW)
def grants(request: HttpRequest) -> HttpResponse:
    mine = departments_where(request.user, Perm.DATA_VIEW)
    operator = services.operator_department()
    is_operator = operator is not None and staff_has_perm(request.user, Perm.DATA_MANAGE, operator)
    found = Grant.objects.select_related("resource__owner", "consumer")
    if not is_operator:
        found = found.filter(Q(resource__owner__in=mine) | Q(consumer__in=mine))
    return render(
        request,
        "exchange/grants.html",
        {"grants": found[:300], "is_operator": is_operator, "now": timezone.now()},
    )


@staff_required(Perm.DATA_MANAGE)
@require_POST
def grant_action(request: HttpRequest, pk: int) -> HttpResponse:
    grant = get_object_or_404(Grant.objects.select_related("resource__owner", "consumer"), pk=pk)
    try:
        if request.POST.get("action") == "revoke":
            services.grant_revoke(
                acting_user=request.user, grant=grant, reason=request.POST.get("reason", ""), request=request
            )
            messages.success(request, _("授权已撤销，之后的调用将被拒绝。"))
        elif request.POST.get("action") == "hold":
            text = request.POST.get("hold_until", "").strip()
            services.grant_hold(
                acting_user=request.user,
                grant=grant,
                hold_until=dt.date.fromisoformat(text) if text else None,
                reason=request.POST.get("reason", ""),
                request=request,
            )
            messages.success(request, _("已更新暂缓告知日期。"))
    except services.ExchangeError as exc:
        messages.error(request, exc.message)
    except NotPermitted as exc:
        messages.error(request, str(exc))
    except ValueError:
        messages.error(request, _("日期格式应为 年-月-日。"))
    return redirect("exchange:grants")


SUBSCRIBE_REFUSALS = {
    "no_grant": gettext_lazy("本部门没有该资源的有效授权，请先提交共享申请。"),
    "grant_expired": gettext_lazy("授权已到期或尚未生效。"),
    "grant_revoked": gettext_lazy("授权已被撤销。"),
    "fields_not_granted": gettext_lazy("所选字段超出授权范围。"),
    "outside_scope": gettext_lazy("区县部门只能订阅本辖区的数据。"),
    "bulk_not_offered": gettext_lazy("该资源不提供批量订阅。"),
    "unknown_resource": gettext_lazy("资源不存在或已停用。"),
}


def _subscriber_clients(request: HttpRequest) -> list[SystemClient]:
    """The systems of departments where this officer manages data, that may read through the gateway."""
    managed = departments_where(request.user, Perm.DATA_MANAGE)
    found = SystemClient.objects.filter(department__in=managed).select_related("application", "department")
    return [c for c in found if "exchange.read" in c.scope_set]


@staff_required(Perm.DATA_MANAGE)
@require_POST
def resource_subscribe(request: HttpRequest, code: str) -> HttpResponse:
    client = next((c for c in _subscriber_clients(request) if str(c.pk) == request.POST.get("client")), None)
    if client is None:
        messages.error(request, _("请选择本部门的接入系统。"))
        return redirect("exchange:resource", code=code)
    try:
        subscription = bulk.subscription_create(
            client=client,
            resource_code=code,
            fields=request.POST.getlist("fields") or None,
            purpose=request.POST.get("purpose", ""),
            down_to=request.POST.get("down_to", "").strip(),
            acting_user=request.user,
            request=request,
        )
    except gateway.GatewayError as exc:
        fallback = _("请写明用途；回流区划须为有效的区划代码。")
        messages.error(request, str(SUBSCRIBE_REFUSALS.get(exc.code, fallback)))
        return redirect("exchange:resource", code=code)
    messages.success(
        request,
        _("已为 %(c)s 建立订阅（编号 %(n)s），系统可从 %(u)s 取数。")
        % {
            "c": client.application.name,
            "n": subscription.pk,
            "u": f"/api/exchange/subscriptions/{subscription.pk}/feed",
        },
    )
    return redirect("exchange:subscriptions")


@staff_required(Perm.DATA_VIEW)
def subscriptions(request: HttpRequest) -> HttpResponse:
    """Bulk subscriptions to the department's resources, and its own systems' subscriptions."""
    mine = departments_where(request.user, Perm.DATA_VIEW)
    operator = services.operator_department()
    is_operator = operator is not None and staff_has_perm(request.user, Perm.DATA_MANAGE, operator)
    found = Subscription.objects.select_related(
        "resource__owner", "client__department", "client__application"
    )
    if not is_operator:
        found = found.filter(Q(resource__owner__in=mine) | Q(client__department__in=mine))
    managed = {d.pk for d in departments_where(request.user, Perm.DATA_MANAGE)}
    rows = [(s, is_operator or s.resource.owner_id in managed) for s in found[:300]]
    return render(request, "exchange/subscriptions.html", {"rows": rows})


@staff_required(Perm.DATA_MANAGE)
@require_POST
def subscription_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(
        Subscription.objects.select_related("resource__owner", "client__department", "client__application"),
        pk=pk,
    )
    try:
        bulk.subscription_cancel(subscription, acting_user=request.user, request=request)
        messages.success(request, _("订阅已停止，之后的批次将被拒绝。"))
    except NotPermitted as exc:
        messages.error(request, str(exc))
    return redirect("exchange:subscriptions")


@staff_required(Perm.DATA_VIEW)
def audit_log(request: HttpRequest) -> HttpResponse:
    checkpoints = Checkpoint.objects.all()[:50]
    return render(
        request,
        "exchange/audit.html",
        {"checkpoints": checkpoints, "size": auditlog.tree_size(), "origin": auditlog.origin()},
    )


@login_required
def data_usage(request: HttpRequest) -> HttpResponse:
    """我的数据被谁用了: every read of the person's (or the organisation's) data through the gateway and the
    registries, except reads held back for a covert investigation until their release date."""
    subjects = acting_codes(request)
    rows = [
        {
            "at": read.at,
            "who": read.department.name if read.department else _("平台系统"),
            "what": read.what,
            "fields": read.fields,
            "purpose": read.purpose,
            "how": _("数据共享") if read.via_gateway else _("基础库查询"),
        }
        for read in tracker.visible_reads(subjects)
    ]
    return render(
        request,
        "exchange/data_usage.html",
        {"rows": rows, "subscriptions": bulk.subscriptions_covering(subjects)},
    )
