"""Identity pages. Views parse, authorise, call one service and render."""

from __future__ import annotations

import base64
import functools
import time
from collections.abc import Callable
from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.admin import OTPAdminSite
from django_otp.plugins.otp_totp.models import TOTPDevice
from oauth2_provider.views import AuthorizationView

from tongban.core.codes import mask_phone
from tongban.core.constants import AuditEventType, AuditOutcome
from tongban.core.http import safe_next
from tongban.core.models import AuditEvent
from tongban.core.services import audit_record
from tongban.core.throttle import throttle_client

from . import lockout, selectors, services
from .constants import AccountType, RealNameLevel, StaffRoleName
from .errors import IdentityError, NotPermitted
from .forms import (
    AgentForm,
    LoginForm,
    OrganisationForm,
    PasswordResetRequestForm,
    RegisterForm,
    RegisterVerifyForm,
    RoleGrantForm,
    StaffLoginForm,
    TokenForm,
)
from .middleware import SESSION_KEY
from .models import Department, Organisation, OrganisationAgent, StaffRole, User
from .permissions import PLATFORM_ONLY_ROLES, Perm

ENROL_SESSION_KEY = "tongban_totp_enrol"
ENROL_MAX_AGE = 10 * 60
REGISTER_SESSION_KEY = "tongban_registration"
REGISTER_MAX_AGE = 30 * 60
REGISTER_MAX_TRIES = 5


def _form_error(form: Any, exc: IdentityError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _throttled(request: HttpRequest, scope: str, limit: int, window: int) -> bool:
    return not throttle_client(request, scope, limit=limit, window_seconds=window)


def _login_throttled(request: HttpRequest) -> bool:
    limits = settings.LOGIN_THROTTLE
    return _throttled(request, "login-m", limits["per_ip_per_minute"], 60) or _throttled(
        request, "login-h", limits["per_ip_per_hour"], 3600
    )


def lockout_response(
    request: HttpRequest, credentials: dict[str, Any] | None = None, *args: Any, **kwargs: Any
) -> HttpResponse:
    """django-axes calls this when an account is locked for the address the attempt came from."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(
        request,
        "identity/locked.html",
        {"minutes": minutes},
        status=429,
    )


class GuardedAdminSite(OTPAdminSite):
    """The operators' admin (second factor required): its login is throttled per address and delayed per
    account like the staff login, so it is no side door for guessing a password."""

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method == "POST":
            message = ""
            if _login_throttled(request):
                message = _("尝试过于频繁，请一分钟后再试。")
            elif wait := lockout.login_wait(request, request.POST.get("username", "")):
                message = lockout.wait_message(wait)
            if message:
                return render(request, "identity/login_refused.html", {"message": message}, status=429)
        return super().login(request, extra_context)


def login_view(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request.POST or None)
    if request.method == "POST":
        if _login_throttled(request):
            form.add_error(None, _("尝试过于频繁，请一分钟后再试。"))
            return render(request, "identity/login.html", {"form": form}, status=429)
        if form.is_valid():
            wait = lockout.login_wait(request, form.cleaned_data["username"])
            if wait:
                form.add_error(None, lockout.wait_message(wait))
                return render(request, "identity/login.html", {"form": form}, status=429)
            user = authenticate(
                request,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                account_type=AccountType.PUBLIC,
            )
            if user is not None:
                login(request, user)
                return redirect(safe_next(request, reverse("identity:account")))
            form.add_error(None, _("账号或密码不正确。"))
    return render(request, "identity/login.html", {"form": form, "next": safe_next(request, "")})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, _("您已安全退出。"))
    return redirect("portal:home")


def register_view(request: HttpRequest) -> HttpResponse:
    """Registration, step 1: name, ID number and phone; the SMS says whether a code can follow."""
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.registration_request(**form.cleaned_data, request=request)
        except IdentityError as exc:
            _form_error(form, exc)
            status = 429 if exc.code == "throttled" else 200
            return render(request, "identity/register.html", {"form": form}, status=status)
        request.session[REGISTER_SESSION_KEY] = {**form.cleaned_data, "at": time.time(), "tries": 0}
        return redirect("identity:register_verify")
    return render(request, "identity/register.html", {"form": form})


def register_verify_view(request: HttpRequest) -> HttpResponse:
    """Registration, step 2: the SMS code and a password. The page reads the same whether a code was sent
    or the SMS explained why not."""
    pending = request.session.get(REGISTER_SESSION_KEY)
    if not pending or time.time() - pending["at"] > REGISTER_MAX_AGE:
        request.session.pop(REGISTER_SESSION_KEY, None)
        messages.error(request, _("请先填写注册信息并获取短信验证码。"))
        return redirect("identity:register")
    form = RegisterVerifyForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        if pending["tries"] >= REGISTER_MAX_TRIES:
            request.session.pop(REGISTER_SESSION_KEY, None)
            messages.error(request, _("验证码错误次数过多，请重新获取验证码。"))
            return redirect("identity:register")
        if _throttled(request, "register-verify", 30, 3600):
            form.add_error(None, _("操作过于频繁，请稍后再试。"))
            status = 429
        else:
            try:
                user = services.person_register(
                    name=pending["name"],
                    id_number=pending["id_number"],
                    phone=pending["phone"],
                    password=form.cleaned_data["password"],
                    code=form.cleaned_data["code"],
                    request=request,
                )
            except IdentityError as exc:
                if exc.code == "sms_code":
                    pending["tries"] += 1
                    request.session[REGISTER_SESSION_KEY] = pending
                _form_error(form, exc)
            else:
                request.session.pop(REGISTER_SESSION_KEY, None)
                login(request, user, backend="tongban.identity.backends.AccountBackend")
                if user.person.real_name_level >= RealNameLevel.REGISTRY_VERIFIED:
                    messages.success(
                        request,
                        _(
                            "注册成功。您的姓名、公民身份号码和手机号码与人口库一致，实名等级为“经人口库核验”。"
                        ),
                    )
                else:
                    messages.success(
                        request,
                        _(
                            "注册成功。您的实名等级为“自行填报”：办理部分事项、登记组织前，"
                            "须携带身份证到政务服务大厅当面核验。"
                        ),
                    )
                return redirect("identity:account")
    context = {"form": form, "phone": mask_phone(pending["phone"]), "demo": settings.TONGBAN_DEMO}
    return render(request, "identity/register_verify.html", context, status=status)


def staff_login_view(request: HttpRequest) -> HttpResponse:
    form = StaffLoginForm(request.POST or None)
    if request.method == "POST":
        if _login_throttled(request):
            form.add_error(None, _("尝试过于频繁，请一分钟后再试。"))
            return render(request, "identity/staff_login.html", {"form": form}, status=429)
        if form.is_valid():
            username = form.cleaned_data["username"].strip().lower()
            wait = lockout.login_wait(request, username)
            if wait:
                form.add_error(None, lockout.wait_message(wait))
                return render(request, "identity/staff_login.html", {"form": form}, status=429)
            user = authenticate(
                request,
                username=username,
                password=form.cleaned_data["password"],
                account_type=AccountType.STAFF,
            )
            if user is not None:
                device = services.totp_device_for(user)
                if device is None:
                    request.session.cycle_key()
                    request.session[ENROL_SESSION_KEY] = {"user": user.pk, "at": time.time()}
                    return redirect("identity:staff_enrol")
                allowed, _info = device.verify_is_allowed()
                if allowed and device.verify_token(form.cleaned_data["token"].strip()):
                    login(request, user)
                    otp_login(request, device)
                    return redirect(safe_next(request, reverse("identity:staff_home")))
                # A wrong second factor counts towards the account's lockout like a wrong password.
                user_login_failed.send(
                    sender=__name__,
                    credentials={"username": username, "reason": "second_factor"},
                    request=request,
                )
                if getattr(request, "axes_locked_out", False):
                    return lockout_response(request)
            form.add_error(None, _("登录名、密码或动态口令不正确。"))
    return render(request, "identity/staff_login.html", {"form": form, "next": safe_next(request, "")})


def staff_enrol_view(request: HttpRequest) -> HttpResponse:
    """First staff login: bind an authenticator app (TOTP) before the account can be used."""
    pending = request.session.get(ENROL_SESSION_KEY)
    if not pending or time.time() - pending["at"] > ENROL_MAX_AGE:
        request.session.pop(ENROL_SESSION_KEY, None)
        messages.error(request, _("请先用登录名和密码登录。"))
        return redirect("identity:staff_login")
    user = get_object_or_404(User, pk=pending["user"], account_type=AccountType.STAFF, is_active=True)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = services.totp_enrol_confirm(user=user, token=form.cleaned_data["token"], request=request)
        except IdentityError as exc:
            _form_error(form, exc)
        else:
            request.session.pop(ENROL_SESSION_KEY, None)
            login(request, user, backend="tongban.identity.backends.AccountBackend")
            otp_login(request, device)
            messages.success(request, _("动态口令绑定成功。"))
            return redirect("identity:staff_home")
    device = services.totp_device_for(user) or _pending_device(user)
    qr_svg = segno.make(device.config_url, micro=False).svg_inline(scale=4, title=_("动态口令二维码"))
    secret = _base32(device.bin_key)
    return render(request, "identity/staff_enrol.html", {"form": form, "qr_svg": qr_svg, "secret": secret})


def _pending_device(user: User) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or services.totp_enrol_start(user=user)


def _base32(key: bytes) -> str:
    return base64.b32encode(key).decode().rstrip("=")


def staff_required(
    perm: Perm | None = None,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Staff pages need a staff account that passed the second factor; with ``perm``, also that permission
    in at least one department (pages check the department they show themselves)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated or not user.is_civil_servant or not user.is_verified():
                return redirect_to_login(request.get_full_path(), reverse("identity:staff_login"))
            if perm is not None and not selectors.departments_where(user, perm).exists():
                audit_record(
                    event_type=AuditEventType.PERMISSION_DENIED,
                    acting_user=user,
                    request=request,
                    outcome=AuditOutcome.FAILURE,
                    extra_data={"page": request.path, "perm": str(perm)},
                )
                return render(request, "403.html", status=403)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def password_reset_view(request: HttpRequest) -> HttpResponse:
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if _throttled(request, "reset", settings.LOGIN_THROTTLE["reset_per_ip_per_hour"], 3600):
            form.add_error(None, _("操作过于频繁，请稍后再试。"))
        else:
            services.password_reset_request(identifier=form.cleaned_data["identifier"], request=request)
            return render(request, "identity/password_reset_sent.html")
    return render(request, "identity/password_reset.html", {"form": form})


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "identity/password_reset_confirm.html"
    success_url = reverse_lazy("identity:login")
    post_reset_login = False

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        audit_record(
            event_type=AuditEventType.PASSWORD_RESET,
            acting_user=self.user,
            request=self.request,
            target=self.user,
        )
        messages.success(self.request, _("密码已重置，请用新密码登录。"))
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "identity/password_change.html"
    success_url = reverse_lazy("identity:account")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        audit_record(
            event_type=AuditEventType.PASSWORD_CHANGED,
            acting_user=self.request.user,
            request=self.request,
            target=self.request.user,
        )
        messages.success(self.request, _("密码已修改。"))
        return response


@login_required
def account_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user
    if user.is_civil_servant:
        return redirect("identity:staff_home")
    orgs = list(selectors.organisations_for(user))
    represented = [(org, org.active_agents) for org in selectors.represented_with_agents(user)]
    return render(
        request,
        "identity/account.html",
        {
            "person": user.person,
            "organisations": orgs,
            "represented": represented,
        },
    )


@login_required
@require_POST
def acting_switch_view(request: HttpRequest) -> HttpResponse:
    org_uuid = request.POST.get("organisation") or ""
    org = Organisation.objects.filter(uuid=org_uuid).first() if org_uuid else None
    if org_uuid and org is None:
        messages.error(request, _("组织不存在。"))
        return redirect("identity:account")
    try:
        services.acting_switch(user=request.user, organisation=org, request=request)
    except IdentityError as exc:
        messages.error(request, exc.message)
        return redirect("identity:account")
    if org is None:
        request.session.pop(SESSION_KEY, None)
        messages.success(request, _("您现在以个人身份办事。"))
    else:
        request.session[SESSION_KEY] = str(org.uuid)
        messages.success(request, _("您现在代表“%(org)s”办事。") % {"org": org.name})
    return redirect(safe_next(request, reverse("identity:account")))


@login_required
def organisation_register_view(request: HttpRequest) -> HttpResponse:
    form = OrganisationForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            org = services.organisation_register(
                acting_user=request.user, request=request, **form.cleaned_data
            )
        except IdentityError as exc:
            _form_error(form, exc)
            status = 403 if isinstance(exc, NotPermitted) else 200
        else:
            messages.success(request, _("已登记“%(org)s”，您可以切换为代表该组织办事。") % {"org": org.name})
            return redirect("identity:account")
    return render(request, "identity/organisation_form.html", {"form": form}, status=status)


@login_required
def agent_grant_view(request: HttpRequest, org_uuid: str) -> HttpResponse:
    # Only its legal representative in the current data sees the page: to anyone else it does not exist.
    org = get_object_or_404(Organisation, uuid=org_uuid, legal_representative_id=request.user.person_id or 0)
    form = AgentForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.agent_grant(
                acting_user=request.user, organisation=org, request=request, **form.cleaned_data
            )
        except IdentityError as exc:
            _form_error(form, exc)
            status = 403 if isinstance(exc, NotPermitted) else 200
        else:
            messages.success(request, _("已授权经办人。"))
            return redirect("identity:account")
    return render(request, "identity/agent_form.html", {"form": form, "organisation": org}, status=status)


@login_required
@require_POST
def agent_revoke_view(request: HttpRequest, agent_id: int) -> HttpResponse:
    agent = get_object_or_404(OrganisationAgent, pk=agent_id)
    try:
        services.agent_revoke(acting_user=request.user, agent=agent, request=request)
    except IdentityError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已撤销经办人授权。"))
    return redirect("identity:account")


@staff_required()
def staff_home_view(request: HttpRequest) -> HttpResponse:
    roles = list(selectors.staff_roles_of(request.user))
    manageable = selectors.departments_where(request.user, Perm.STAFF_MANAGE).order_by("area__code", "name")
    return render(
        request,
        "identity/staff_home.html",
        {
            "roles": roles,
            "manageable": manageable,
            "can_audit": selectors.departments_where(request.user, Perm.AUDIT_VIEW).exists(),
            "can_catalogue": selectors.departments_where(request.user, Perm.CATALOG_EDIT).exists(),
            "can_licences": selectors.departments_where(request.user, Perm.LICENCE_ISSUE).exists(),
            "can_seals": selectors.departments_where(request.user, Perm.SEAL_MANAGE).exists(),
            "can_quality": selectors.departments_where(request.user, Perm.DATA_VIEW).exists(),
        },
    )


@staff_required()
def department_staff_view(request: HttpRequest, code: str) -> HttpResponse:
    department = get_object_or_404(Department, code=code)
    if not selectors.staff_has_perm(request.user, Perm.STAFF_MANAGE, department):
        audit_record(
            event_type=AuditEventType.PERMISSION_DENIED,
            acting_user=request.user,
            request=request,
            department=department,
            outcome=AuditOutcome.FAILURE,
            extra_data={"page": "department_staff"},
        )
        return render(request, "403.html", status=403)
    is_platform = selectors.staff_has_perm(request.user, Perm.PLATFORM_MANAGE, None)
    grantable = [
        (v, label) for v, label in StaffRoleName.choices if is_platform or v not in PLATFORM_ONLY_ROLES
    ]
    form = RoleGrantForm(request.POST or None, roles=grantable)
    if request.method == "POST" and form.is_valid():
        staff_user = User.objects.filter(
            username=form.cleaned_data["username"].strip().lower(), account_type=AccountType.STAFF
        ).first()
        if staff_user is None:
            form.add_error("username", _("没有这个工作人员账号。"))
        else:
            try:
                services.role_grant(
                    acting_user=request.user,
                    staff_user=staff_user,
                    department=department,
                    role=form.cleaned_data["role"],
                    request=request,
                )
            except IdentityError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, _("已授予角色。"))
                return redirect("identity:department_staff", code=department.code)
    return render(
        request,
        "identity/department_staff.html",
        {
            "department": department,
            "staff_roles": selectors.department_staff(department),
            "form": form,
        },
    )


@staff_required()
@require_POST
def role_revoke_view(request: HttpRequest, role_id: int) -> HttpResponse:
    staff_role = get_object_or_404(StaffRole.objects.select_related("department", "user"), pk=role_id)
    try:
        services.role_revoke(acting_user=request.user, staff_role=staff_role, request=request)
    except IdentityError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已撤销角色。"))
    return redirect("identity:department_staff", code=staff_role.department.code)


@staff_required(Perm.AUDIT_VIEW)
def audit_log_view(request: HttpRequest) -> HttpResponse:
    departments = selectors.departments_where(request.user, Perm.AUDIT_VIEW)
    events = AuditEvent.objects.select_related("department").order_by("-at", "-id")
    if not selectors.staff_has_perm(request.user, Perm.AUDIT_VIEW, None):
        events = selectors.audit_events_visible_in(events, departments)
    event_type = request.GET.get("type", "")
    if event_type:
        events = events.filter(event_type=event_type)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "identity/audit_log.html",
        {
            "page": page,
            "event_types": AuditEventType.choices,
            "event_type": event_type,
        },
    )


class ConsentAuthorizationView(AuthorizationView):
    """The OIDC consent page, in our layout, with every decision written to the audit trail."""

    template_name = "identity/oidc_authorize.html"

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        audit_record(
            event_type=AuditEventType.OIDC_CONSENT,
            acting_user=self.request.user,
            request=self.request,
            outcome=AuditOutcome.SUCCESS if form.cleaned_data.get("allow") else AuditOutcome.FAILURE,
            extra_data={
                "client_id": form.cleaned_data.get("client_id"),
                "scope": form.cleaned_data.get("scope"),
            },
        )
        return response
