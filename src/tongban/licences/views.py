"""Licence pages: the public verification, the holder's wallet (我的证照: show, download, share, uses),
what a scanned 亮证 code or a share link shows, and the issuing department's licence and seal desk."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tongban.core.services import client_ip
from tongban.core.throttle import throttle_client
from tongban.identity.errors import NotPermitted
from tongban.identity.permissions import Perm
from tongban.identity.selectors import acting_codes, departments_where
from tongban.identity.views import staff_required

from . import formats, services
from .constants import Algorithm, LicenceStatus
from .models import Licence, LicenceShare, LicenceType, SealKey
from .verify import from_qr

MAX_FILE = 256 * 1024


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


# ---- public verification -------------------------------------------------------------------------------


def verify_page(request: HttpRequest) -> HttpResponse:
    """Upload the licence file, paste its text, or arrive from a scanned QR code (?f=…)."""
    result, error = None, ""
    text = ""
    if request.method == "POST" or request.GET.get("f"):
        if not throttle_client(request, "licence-verify", limit=60, window_seconds=60):
            return render(
                request, "licences/verify.html", {"error": _("核验过于频繁，请稍后再试。")}, status=429
            )
        upload = request.FILES.get("file")
        if upload is not None:
            if upload.size > MAX_FILE:
                error = _("文件过大：电子证照文件不超过 256KB。")
            else:
                text = upload.read().decode("utf-8", errors="replace")
        else:
            text = request.POST.get("text", "") or request.GET.get("f", "")
        if not error:
            result = services.licence_verify(_parse(text), by=_("公开核验页面"))
    return render(request, "licences/verify.html", {"result": result, "error": error})


def _parse(text: str) -> object:
    text = (text or "").strip()[: MAX_FILE * 2]
    try:
        return json.loads(text)
    except ValueError:
        try:
            return from_qr(text if "f=" in text or text.startswith("TBL1:") else "f=" + text)
        except (ValueError, TypeError):
            return None


def shown(request: HttpRequest, token: str) -> HttpResponse:
    """What a 亮证 QR code opens: the licence and its verification, for five minutes."""
    try:
        licence = services.shown_licence(token, viewer=_("扫码查看（%(ip)s）") % {"ip": client_ip(request)})
    except services.LicenceError as exc:
        return render(request, "licences/shown.html", {"error": exc.message}, status=410)
    result = services.licence_verify(licence.document, by=_("亮证核验"))
    return render(request, "licences/shown.html", {"licence": licence, "result": result})


def shared(request: HttpRequest, token: str) -> HttpResponse:
    try:
        share = services.share_open(token, viewer=_("分享链接（%(ip)s）") % {"ip": client_ip(request)})
    except services.LicenceError as exc:
        return render(request, "licences/shown.html", {"error": exc.message}, status=410)
    if request.GET.get("download") == "json":
        response = JsonResponse(share.licence.document, json_dumps_params={"ensure_ascii": False})
        response["Content-Disposition"] = f'attachment; filename="{share.licence.number}.json"'
        return response
    result = services.licence_verify(share.licence.document, by=share.recipient)
    return render(
        request, "licences/shown.html", {"licence": share.licence, "result": result, "share": share}
    )


# ---- the wallet ----------------------------------------------------------------------------------------


def _my_licence(request: HttpRequest, pk: int) -> Licence:
    licence = Licence.objects.select_related("licence_type", "issuer").filter(pk=pk).first()
    if licence is None or licence.holder_code not in acting_codes(request):
        raise Http404
    return licence


@login_required
def wallet(request: HttpRequest) -> HttpResponse:
    licences = Licence.objects.filter(holder_code__in=acting_codes(request)).select_related(
        "licence_type", "issuer"
    )
    return render(request, "licences/wallet.html", {"licences": licences})


@login_required
def wallet_detail(request: HttpRequest, pk: int) -> HttpResponse:
    licence = _my_licence(request, pk)
    show_url = request.build_absolute_uri(f"/licences/show/{services.show_token(licence)}/")
    return render(
        request,
        "licences/detail.html",
        {
            "licence": licence,
            "fields": _face_rows(licence),
            "show_qr": formats.qr_svg(show_url, scale=4),
            "show_seconds": services.SHOW_SECONDS,
            "shares": licence.shares.all()[:20],
            "uses": Paginator(licence.uses.select_related("case"), 30).get_page(request.GET.get("page")),
        },
    )


def _face_rows(licence: Licence) -> list[tuple[str, str]]:
    properties = licence.licence_type.face_schema.get("properties", {})
    order = licence.licence_type.display_fields or list(licence.face)
    return [(properties.get(k, {}).get("title", k), licence.face[k]) for k in order if k in licence.face]


@login_required
def wallet_download(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    licence = _my_licence(request, pk)
    if kind == "pdf":
        try:
            pdf = formats.render_pdf(licence, _base_url(request))
        except formats.PdfUnavailable:
            messages.error(
                request, _("暂时无法生成 PDF（服务器未安装中文字体 fonts-noto-cjk），请先下载签章文件。")
            )
            return redirect("licences:wallet_detail", pk=licence.pk)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{licence.number}.pdf"'
        return response
    if kind == "vc":
        body = services.verifiable_credential(licence)
        name = f"{licence.number}.vc.json"
    elif kind == "json":
        body, name = licence.document, f"{licence.number}.json"
    else:
        raise Http404
    response = JsonResponse(body, json_dumps_params={"ensure_ascii": False, "indent": 1})
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_POST
def wallet_share(request: HttpRequest, pk: int) -> HttpResponse:
    licence = _my_licence(request, pk)
    try:
        share = services.share_create(
            holder=request.user,
            licence=licence,
            recipient=request.POST.get("recipient", ""),
            purpose=request.POST.get("purpose", ""),
            days=int(request.POST.get("days") or 7) if (request.POST.get("days") or "7").isdigit() else 0,
            request=request,
        )
    except services.LicenceError as exc:
        messages.error(request, f"{exc.message} {' '.join(exc.problems.values())}")
    else:
        link = request.build_absolute_uri(f"/licences/shared/{share.token}/")
        messages.success(
            request,
            _("已生成分享链接（%(d)s 前有效）：%(u)s") % {"d": f"{share.expires_at:%Y-%m-%d}", "u": link},
        )
    return redirect("licences:wallet_detail", pk=licence.pk)


@login_required
@require_POST
def wallet_share_revoke(request: HttpRequest, share_id: int) -> HttpResponse:
    # Whoever acts now for the licence's holder, whoever made the share (a former agent's included).
    share = get_object_or_404(LicenceShare.objects.select_related("licence"), pk=share_id)
    _my_licence(request, share.licence_id)
    if services.share_revoke(holder=request.user, share=share, request=request):
        messages.success(request, _("已撤回分享。"))
    else:
        messages.info(request, _("该分享已撤回。"))
    return redirect("licences:wallet_detail", pk=share.licence_id)


# ---- the issuing department's desk --------------------------------------------------------------------


@staff_required(Perm.LICENCE_ISSUE)
def staff_licences(request: HttpRequest) -> HttpResponse:
    departments = departments_where(request.user, Perm.LICENCE_ISSUE)
    query = request.GET.get("q", "").strip()[:40]
    licences = Licence.objects.filter(issuer__in=departments).select_related("licence_type", "issuer")
    if query:
        licences = licences.filter(
            Q(number__icontains=query) | Q(holder_name__icontains=query) | Q(identifier=query)
        )
    return render(
        request,
        "licences/staff_list.html",
        {
            "page": Paginator(licences, 30).get_page(request.GET.get("page")),
            "q": query,
            "types": _issuable_types(request),
        },
    )


def _issuable_types(request: HttpRequest) -> QuerySet[LicenceType]:
    """The licence types one of the staff member's departments may issue."""
    departments = departments_where(request.user, Perm.LICENCE_ISSUE)
    return LicenceType.objects.filter(Q(issuer__in=departments) | Q(issuers__in=departments)).distinct()


@staff_required(Perm.LICENCE_ISSUE)
def staff_issue(request: HttpRequest) -> HttpResponse:
    licence_type = get_object_or_404(LicenceType, code=request.GET.get("type") or request.POST.get("type"))
    departments = list(departments_where(request.user, Perm.LICENCE_ISSUE))
    allowed = licence_type.issuer_ids()
    issuing = [d for d in departments if d.pk in allowed]  # offered; the service checks whatever is sent
    properties = licence_type.face_schema.get("properties", {})
    errors: dict[str, str] = {}
    error = ""
    status = 200
    if not issuing:
        error = _("您所在的部门无权签发“%(t)s”。") % {"t": licence_type.name}
    values = {name: request.POST.get(f"face_{name}", "") for name in properties}
    if request.method == "POST":
        issuer = next((d for d in departments if str(d.pk) == request.POST.get("issuer")), None)
        face = {k: _typed(properties[k], v) for k, v in values.items() if v != ""}
        try:
            licence = services.licence_issue(
                acting_user=request.user,
                licence_type=licence_type,
                issuer=issuer or licence_type.issuer,
                holder_name=request.POST.get("holder_name", "").strip(),
                holder_code=request.POST.get("holder_code", "").strip(),
                face=face,
                request=request,
            )
        except services.IssuerNotAuthorised as exc:
            error, status = exc.message, 403
        except services.LicenceError as exc:
            error, errors = exc.message, exc.problems
        except NotPermitted as exc:
            error, status = str(exc), 403
        else:
            messages.success(request, _("已签发 %(n)s。") % {"n": licence.identifier})
            return redirect("licences:staff_detail", pk=licence.pk)
    fields = [
        (name, prop.get("title", name), values.get(name, ""), errors.get(name, ""))
        for name, prop in properties.items()
    ]
    return render(
        request,
        "licences/staff_issue.html",
        {
            "type": licence_type,
            "fields": fields,
            "departments": issuing,
            "error": error,
            "errors": errors,
        },
        status=status,
    )


def _typed(prop: dict, value: str) -> object:
    if prop.get("type") == "integer" and value.lstrip("-").isdigit():
        return int(value)
    return value


def _staff_licence(request: HttpRequest, pk: int) -> Licence:
    licence = get_object_or_404(Licence.objects.select_related("licence_type", "issuer"), pk=pk)
    if not departments_where(request.user, Perm.LICENCE_ISSUE).filter(pk=licence.issuer_id).exists():
        raise Http404
    return licence


@staff_required(Perm.LICENCE_ISSUE)
def staff_detail(request: HttpRequest, pk: int) -> HttpResponse:
    licence = _staff_licence(request, pk)
    if request.method == "POST":
        action, reason = request.POST.get("action", ""), request.POST.get("reason", "")
        try:
            if action in ("renew", "change"):
                licence = services.licence_change(
                    acting_user=request.user,
                    licence=licence,
                    renew=action == "renew",
                    reason=reason,
                    request=request,
                )
            else:
                status = {
                    "suspend": LicenceStatus.SUSPENDED,
                    "reinstate": LicenceStatus.VALID,
                    "revoke": LicenceStatus.REVOKED,
                }
                if action not in status:
                    raise services.LicenceError(_("未知的操作。"))
                services.licence_set_status(
                    acting_user=request.user,
                    licence=licence,
                    status=status[action],
                    reason=reason,
                    request=request,
                )
        except (services.LicenceError, NotPermitted) as exc:
            messages.error(request, getattr(exc, "message", str(exc)))
        else:
            messages.success(request, _("已办理。"))
        return redirect("licences:staff_detail", pk=licence.pk)
    result = services.licence_verify(
        licence.document, by=request.user.get_full_name() or request.user.username
    )
    return render(
        request,
        "licences/staff_detail.html",
        {
            "licence": licence,
            "fields": _face_rows(licence),
            "result": result,
            "uses": licence.uses.all()[:50],
        },
    )


@staff_required(Perm.SEAL_MANAGE)
def staff_seals(request: HttpRequest) -> HttpResponse:
    departments = departments_where(request.user, Perm.SEAL_MANAGE)
    if request.method == "POST":
        department = departments.filter(pk=request.POST.get("department")).first()
        key = SealKey.objects.filter(pk=request.POST.get("key"), department__in=departments).first()
        action = request.POST.get("action")
        try:
            if action == "rotate" and department is not None:
                algorithm = request.POST.get("algorithm") or Algorithm.SM2
                services.seal_key_rotate(
                    acting_user=request.user, department=department, algorithm=algorithm, request=request
                )
                messages.success(request, _("已生成新密钥，旧密钥停止签章，已签发的证照不受影响。"))
            elif action == "revoke" and key is not None:
                count = services.seal_key_revoke(
                    acting_user=request.user, key=key, reason=request.POST.get("reason", ""), request=request
                )
                messages.success(request, _("已吊销，%(n)d 份证照已用新密钥重新签章。") % {"n": count})
            else:
                messages.error(request, _("未知的操作。"))
        except (services.LicenceError, NotPermitted) as exc:
            messages.error(request, getattr(exc, "message", str(exc)))
        return redirect("licences:staff_seals")
    keys = SealKey.objects.filter(department__in=departments).select_related("department")
    return render(
        request,
        "licences/staff_seals.html",
        {"keys": keys, "departments": departments, "algorithms": Algorithm.choices},
    )
