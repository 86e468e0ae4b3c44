"""Identity writes: registration, organisations and agents, staff roles, second factor, password reset."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import Application

from tongban.core import codes
from tongban.core.constants import AuditEventType, AuditOutcome
from tongban.core.models import OutboxMessage
from tongban.core.notify import queue_message, send_sms
from tongban.core.services import audit_record
from tongban.core.throttle import throttle_hit

from . import selectors, sources, verification
from .backends import PHONE_RE, find_account
from .constants import AccountType, OrganisationType, OrganisationVerification, RealNameLevel, StaffRoleName
from .errors import IdentityError, NotPermitted
from .models import (
    Area,
    Department,
    Organisation,
    OrganisationAgent,
    Person,
    SmsCode,
    StaffRole,
    SystemClient,
    User,
)
from .permissions import PLATFORM_ONLY_ROLES, Perm


def _clean_name(name: str, field: str = "name") -> str:
    name = (name or "").strip()
    if not 2 <= len(name) <= 60:
        raise IdentityError(_("姓名应为2至60个字符。"), field=field)
    return name


def _clean_phone(phone: str, field: str = "phone") -> str:
    phone = (phone or "").strip()
    if not PHONE_RE.match(phone):
        raise IdentityError(_("请输入11位中国大陆手机号码。"), field=field)
    return phone


def _parse_id_number(value: str, field: str = "id_number") -> str:
    try:
        return codes.parse_resident_id(value).number
    except codes.CodeError as exc:
        raise IdentityError(exc.message, field=field, code=exc.code) from None


def _validate_password(password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise IdentityError(" ".join(exc.messages), field="password") from None


# ---- registration --------------------------------------------------------------------------------------
# Two steps. registration_request checks the form and sends one SMS to the phone: a code when the phone and
# the ID number are both free, otherwise a notice saying why not; the page answers the same in every case,
# so it tells nobody whether an ID number has an account or a phone is bound. person_register then takes
# the code (which proves the phone) and opens the account. A new account is self-declared unless the
# population registry holds the same name and that very phone for the ID number; it never takes over a
# level recorded for the person before (the review's 线下当面核验 taken over by a stranger).


def _already_held() -> IdentityError:
    return IdentityError(
        _(
            "注册未完成：该公民身份号码或手机号码已有账号。如是本人，请在登录页点“忘记密码”用原手机号找回；"
            "原手机号已停用的，请携带身份证到政务服务大厅找回账号。"
        ),
        code="duplicate",
    )


def _registration_subject(number: str, name: str) -> str:
    return verification.subject_digest(SmsCode.REGISTER, number, name)


def _account_holding(number: str) -> User | None:
    return User.objects.filter(Q(username=number) | Q(person__id_number=number)).first()


def _name_refused(person: Person | None, number: str, name: str) -> bool:
    """The name does not go with the ID number, as the platform or the population registry knows it (or
    the registry says the person is not living)."""
    if person is not None and person.name != name:
        return True
    registered = sources.registered_person(number)
    return registered is not None and (registered.name != name or not registered.living)


def _registry_level(number: str, name: str, phone: str) -> RealNameLevel:
    """经人口库核验 when the registry holds this name and this phone for the ID number (the phone having just
    been proven by an SMS code); otherwise self-declared."""
    registered = sources.registered_person(number)
    if registered is not None and registered.living and registered.name == name and registered.phone == phone:
        return RealNameLevel.REGISTRY_VERIFIED
    return RealNameLevel.SELF_DECLARED


def registration_request(*, name: str, id_number: str, phone: str, request: HttpRequest | None = None) -> str:
    """Step 1: send the SMS (a code, or a notice why there is none). Returns the masked phone for the page,
    which says the same whatever the case. Only malformed input and the rate limits are refused here."""
    name = _clean_name(name)
    number = _parse_id_number(id_number)
    phone = _clean_phone(phone)
    verification.sms_code_throttle(phone=phone, request=request)
    verification.sms_send(_registration_request(name=name, number=number, phone=phone, request=request))
    return codes.mask_phone(phone)


@transaction.atomic(durable=True)
def _registration_request(
    *, name: str, number: str, phone: str, request: HttpRequest | None
) -> list[tuple[str, str]]:
    messages: list[tuple[str, str]] = []
    holder = _account_holding(number)
    if User.objects.filter(phone=phone).exists():
        outcome = "phone_bound"
        messages.append(
            (
                phone,
                _(
                    "【通办】有人正在用本手机号注册通办账号。本手机号已绑定通办账号，不能再注册新账号；"
                    "可直接登录，忘记密码可在登录页找回。如非本人操作，请忽略本短信。"
                ),
            )
        )
    elif holder is not None:
        outcome = "id_number_held"
        messages.append(
            (
                phone,
                _(
                    "【通办】您填写的公民身份号码已注册通办账号，不能重复注册。如是本人，请在登录页点"
                    "“忘记密码”用原手机号找回；原手机号已停用的，请携带身份证到政务服务大厅找回账号。"
                ),
            )
        )
        if holder.phone and holder.phone != phone:
            messages.append(
                (
                    holder.phone,
                    _(
                        "【通办】有人尝试用您的公民身份号码注册新的通办账号，已被拒绝。"
                        "如非本人操作，请留意账号安全。"
                    ),
                )
            )
    elif _name_refused(Person.objects.filter(id_number=number).first(), number, name):
        outcome = "name_refused"
        messages.append(
            (
                phone,
                _(
                    "【通办】您填写的姓名与公民身份号码未通过核验，未发送注册验证码。请核对后重新注册，"
                    "或携带身份证到政务服务大厅办理。"
                ),
            )
        )
    else:
        outcome = "code_sent"
        code = verification.sms_code_issue(
            phone=phone, purpose=SmsCode.REGISTER, subject=_registration_subject(number, name)
        )
        minutes = int(verification.CODE_TTL.total_seconds() // 60)
        messages.append(
            (
                phone,
                _("【通办】您正在注册通办账号，验证码%(code)s，%(minutes)d分钟内有效。请勿将验证码告诉他人。")
                % {"code": code, "minutes": minutes},
            )
        )
    audit_record(
        event_type=AuditEventType.REGISTRATION_REQUESTED,
        request=request,
        actor_label=codes.mask_id_number(number),
        outcome=AuditOutcome.SUCCESS if outcome == "code_sent" else AuditOutcome.FAILURE,
        extra_data={"phone": codes.mask_phone(phone), "outcome": outcome},
    )
    return messages


def person_register(
    *,
    name: str,
    id_number: str,
    phone: str,
    password: str,
    code: str,
    request: HttpRequest | None = None,
) -> User:
    """Step 2: the SMS code proves the phone; the account opens, self-declared unless the population
    registry confirms name and phone (see _registry_level)."""
    name = _clean_name(name)
    number = _parse_id_number(id_number)
    phone = _clean_phone(phone)
    user = User(username=number, account_type=AccountType.PUBLIC, display_name=name, phone=phone)
    _validate_password(password, user)  # before the code is tried: a weak password costs no try
    user.set_password(password)
    result = _person_register(user=user, name=name, number=number, phone=phone, code=code, request=request)
    if isinstance(result, IdentityError):
        raise result
    return result


@transaction.atomic(durable=True)
def _person_register(
    *, user: User, name: str, number: str, phone: str, code: str, request: HttpRequest | None
) -> User | IdentityError:
    taken = verification.sms_code_take(
        phone=phone, purpose=SmsCode.REGISTER, subject=_registration_subject(number, name), code=code
    )
    if not taken:
        # Returned, not raised: the wrong try must commit. The same words whether or not a code was sent.
        audit_record(
            event_type=AuditEventType.REGISTERED,
            request=request,
            actor_label=codes.mask_id_number(number),
            outcome=AuditOutcome.FAILURE,
            extra_data={"phone": codes.mask_phone(phone), "reason": "sms_code"},
        )
        return IdentityError(
            _("验证码不正确或已失效，请核对短信，或重新获取验证码。"), field="code", code="sms_code"
        )
    # The code went out only when both were free; another registration may have won since.
    if User.objects.filter(Q(username=number) | Q(person__id_number=number) | Q(phone=phone)).exists():
        raise _already_held()
    person = Person.objects.select_for_update().filter(id_number=number).first()
    if _name_refused(person, number, name):
        raise IdentityError(_("姓名与公民身份号码未通过核验。"), field="name", code="mismatch")
    level = _registry_level(number, name, phone)
    verified_at = timezone.now() if level > RealNameLevel.SELF_DECLARED else None
    previous_level = None
    if person is None:
        person = Person(
            name=name, id_number=number, phone=phone, real_name_level=level, verified_at=verified_at
        )
        person.full_clean()
        person.save()
    else:
        # A person the platform knew without an account (a child, a legal representative): whatever level
        # was recorded for them was about them, not about whoever opens this account.
        previous_level = person.real_name_level
        person.phone, person.real_name_level, person.verified_at = phone, level, verified_at
        person.save(update_fields=["phone", "real_name_level", "verified_at"])
    user.person = person
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise _already_held() from None
    audit_record(
        event_type=AuditEventType.REGISTERED,
        acting_user=user,
        request=request,
        target=user,
        extra_data={"real_name_level": int(level), "previous_level": previous_level},
    )
    return user


def _require_verified(person: Person, message: str) -> None:
    if person.real_name_level < RealNameLevel.REGISTRY_VERIFIED:
        raise NotPermitted(message % {"level": person.get_real_name_level_display()}, code="not_verified")


def organisation_register(
    *, acting_user: User, uscc: str, org_type: str, request: HttpRequest | None = None
) -> Organisation:
    """A person registers the organisation whose legal representative the legal-entity registry names
    them (by their verified ID number); name, address and founding date are the registry's, not the
    form's. Anyone else acts for it only through the representative's authorisation (agent_grant).
    When the registry names a new representative, the new one takes the organisation over. Refusals are
    audited."""
    try:
        return _organisation_register(acting_user=acting_user, uscc=uscc, org_type=org_type, request=request)
    except IdentityError as exc:
        audit_record(
            event_type=AuditEventType.ORG_REGISTERED,
            acting_user=acting_user,
            request=request,
            outcome=AuditOutcome.FAILURE,
            extra_data={"uscc": (uscc or "").strip()[:18], "reason": exc.code},
        )
        raise


@transaction.atomic(durable=True)
def _organisation_register(
    *, acting_user: User, uscc: str, org_type: str, request: HttpRequest | None
) -> Organisation:
    if not acting_user.is_public or acting_user.person is None:
        raise NotPermitted(_("只有个人用户可以登记其担任法定代表人的组织。"))
    person = acting_user.person
    try:
        code = codes.parse_uscc(uscc).code
    except codes.CodeError as exc:
        raise IdentityError(exc.message, field="uscc", code=exc.code) from None
    if org_type not in OrganisationType.values:
        raise IdentityError(_("请选择组织类型。"), field="org_type")
    # The claim rests on the ID number: a self-declared one proves nothing.
    _require_verified(
        person,
        _(
            "登记组织须先完成实名核验：您的账号实名等级为“%(level)s”。"
            "请携带身份证到政务服务大厅当面核验后再登记。"
        ),
    )
    if not sources.has_source():
        raise IdentityError(_("暂时无法向法人库核验，请稍后再试。"), code="registry_unavailable")
    entity = sources.registered_entity(code)
    if entity is None:
        raise IdentityError(
            _(
                "法人库中没有该统一社会信用代码的登记信息，请核对。新设立的组织请待登记信息同步到法人库后再试。"
            ),
            field="uscc",
            code="not_in_registry",
        )
    if not entity.active:
        raise IdentityError(
            _("法人库中该组织的状态为“%(status)s”，不能登记。") % {"status": entity.status_label},
            field="uscc",
            code="not_active",
        )
    if entity.legal_rep_id_number != person.id_number:
        raise NotPermitted(
            _(
                "法人库登记的法定代表人不是您，不能登记该组织。经办人请由法定代表人登记组织后，"
                "在“我的账号”中授权您办理。"
            ),
            code="not_representative",
        )
    area = Area.objects.filter(code=entity.area_code).first() if entity.area_code else None
    org = Organisation.objects.select_for_update().filter(uscc=code).first()
    previous: Person | None = None
    revoked = 0
    if org is not None and org.legal_representative_id == person.pk:
        raise IdentityError(
            _("您已登记该组织，可在“我的账号”中切换为代表该组织办事。"), field="uscc", code="duplicate"
        )
    if org is None:
        org = Organisation(uscc=code)
    else:
        # Recorded for someone the registry no longer names (a change of representative, or a claim made
        # before claims were checked): the registry's representative takes it over, and the agents the
        # previous one authorised lose their authority.
        previous = org.legal_representative
        revoked = OrganisationAgent.objects.filter(organisation=org, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    org.name = entity.name[:200] or org.name
    org.org_type = org_type
    org.legal_representative = person
    org.area = area or org.area
    org.address = (entity.address or org.address or "")[:200]
    org.established_on = entity.established_on or org.established_on
    org.verification = OrganisationVerification.REGISTRY_VERIFIED
    org.full_clean()
    try:
        with transaction.atomic():
            org.save()
    except IntegrityError:
        raise IdentityError(_("该统一社会信用代码已登记。"), field="uscc", code="duplicate") from None
    audit_record(
        event_type=AuditEventType.ORG_REGISTERED,
        acting_user=acting_user,
        request=request,
        target=org,
        extra_data={
            "uscc": code,
            "registry_checked": True,
            "replaced_representative": previous.masked_id_number if previous else None,
            "agents_revoked": revoked,
        },
    )
    previous_account = getattr(previous, "account", None) if previous is not None else None
    if previous_account is not None and previous_account.phone:
        queue_message(
            channel=OutboxMessage.SMS,
            to=previous_account.phone,
            text=_(
                "【通办】法人库登记的“%(org)s”法定代表人已不是您，该组织已由法人库登记的法定代表人登记，"
                "您不再代表该组织办事。如有疑问，请联系市场监管部门。"
            )
            % {"org": org.name},
        )
    return org


@transaction.atomic(durable=True)
def agent_grant(
    *,
    acting_user: User,
    organisation: Organisation,
    id_number: str,
    name: str,
    valid_until: dt.date | None = None,
    request: HttpRequest | None = None,
) -> OrganisationAgent:
    """The legal representative authorises a registered person to act for the organisation."""
    if acting_user.person_id is None or organisation.legal_representative_id != acting_user.person_id:
        raise NotPermitted(_("只有法定代表人可以授权经办人。"))
    _require_verified(
        acting_user.person,
        _("授权经办人须先完成实名核验：您的账号实名等级为“%(level)s”。请携带身份证到政务服务大厅当面核验。"),
    )
    number = _parse_id_number(id_number)
    name = _clean_name(name)
    person = Person.objects.filter(id_number=number, name=name).first()
    if person is None or not hasattr(person, "account"):
        raise IdentityError(
            _("未找到姓名与公民身份号码一致的注册用户，请经办人先注册账号。"), field="id_number"
        )
    if person.real_name_level < RealNameLevel.REGISTRY_VERIFIED:
        # Whoever registered under a self-declared ID number may not be the person the representative means.
        raise IdentityError(
            _("该经办人的账号尚未完成实名核验，暂不能授权。请经办人携带身份证到政务服务大厅当面核验。"),
            field="id_number",
            code="not_verified",
        )
    if person.pk == organisation.legal_representative_id:
        raise IdentityError(_("法定代表人无需授权即可办理。"), field="id_number")
    if valid_until is not None and valid_until < timezone.localdate():
        raise IdentityError(_("授权有效期不能早于今天。"), field="valid_until")
    if OrganisationAgent.objects.filter(
        organisation=organisation, person=person, revoked_at__isnull=True
    ).exists():
        raise IdentityError(_("该人员已是本组织的经办人。"), field="id_number", code="duplicate")
    agent = OrganisationAgent.objects.create(
        organisation=organisation, person=person, granted_by=acting_user, valid_until=valid_until
    )
    audit_record(
        event_type=AuditEventType.AGENT_GRANTED,
        acting_user=acting_user,
        request=request,
        target=agent,
        extra_data={
            "organisation": organisation.uscc,
            "agent": person.masked_id_number,
            "valid_until": valid_until.isoformat() if valid_until else None,
        },
    )
    return agent


@transaction.atomic(durable=True)
def agent_revoke(*, acting_user: User, agent: OrganisationAgent, request: HttpRequest | None = None) -> None:
    agent = (
        OrganisationAgent.objects.select_for_update()
        .select_related("organisation", "person")
        .get(pk=agent.pk)
    )
    if acting_user.person_id is None or agent.organisation.legal_representative_id != acting_user.person_id:
        raise NotPermitted(_("只有法定代表人可以撤销经办人授权。"))
    if agent.revoked_at is not None:
        return
    agent.revoked_at = timezone.now()
    agent.save(update_fields=["revoked_at"])
    audit_record(
        event_type=AuditEventType.AGENT_REVOKED,
        acting_user=acting_user,
        request=request,
        target=agent,
        extra_data={"organisation": agent.organisation.uscc, "agent": agent.person.masked_id_number},
    )


def acting_switch(
    *, user: User, organisation: Organisation | None, request: HttpRequest | None = None
) -> None:
    """Check that the user may act for the organisation (None: for themself) and record the switch.
    The caller stores the choice in the session; the middleware re-checks it on every request."""
    if organisation is not None and not selectors.can_act_for(user, organisation):
        audit_record(
            event_type=AuditEventType.ACTING_SWITCHED,
            acting_user=user,
            request=request,
            target=organisation,
            outcome=AuditOutcome.FAILURE,
        )
        raise NotPermitted(_("您不是该组织的法定代表人或有效经办人。"))
    audit_record(
        event_type=AuditEventType.ACTING_SWITCHED,
        acting_user=user,
        request=request,
        target=organisation,
        extra_data={"organisation": organisation.uscc if organisation else None},
    )


def require_perm(
    acting_user: User | None,
    perm: Perm,
    department: Department | None,
    *,
    request: HttpRequest | None,
    action: str,
) -> None:
    """Refuse, with an audit trace that is not rolled back, unless the staff member holds ``perm`` there.
    Called before a service opens its transaction."""
    if acting_user is not None and selectors.staff_has_perm(acting_user, perm, department):
        return
    audit_record(
        event_type=AuditEventType.PERMISSION_DENIED,
        acting_user=acting_user,
        request=request,
        department=department,
        outcome=AuditOutcome.FAILURE,
        extra_data={"action": action, "perm": str(perm)},
    )
    where = department.name if department is not None else _("全平台")
    raise NotPermitted(_("您在“%(dept)s”没有执行此操作的权限。") % {"dept": where})


def role_grant(
    *,
    acting_user: User,
    staff_user: User,
    department: Department,
    role: str,
    request: HttpRequest | None = None,
) -> StaffRole:
    if role not in StaffRoleName.values:
        raise IdentityError(_("角色不存在。"), field="role")
    perm_needed = Perm.PLATFORM_MANAGE if role in PLATFORM_ONLY_ROLES else Perm.STAFF_MANAGE
    require_perm(acting_user, perm_needed, department, request=request, action="role_grant")
    return _role_grant(
        acting_user=acting_user, staff_user=staff_user, department=department, role=role, request=request
    )


@transaction.atomic(durable=True)
def _role_grant(
    *, acting_user: User, staff_user: User, department: Department, role: str, request: HttpRequest | None
) -> StaffRole:
    if not staff_user.is_civil_servant:
        raise IdentityError(_("只能向工作人员账号授予角色。"), field="username")
    staff_role, created = StaffRole.objects.get_or_create(
        user=staff_user, department=department, role=role, defaults={"granted_by": acting_user}
    )
    if created:
        audit_record(
            event_type=AuditEventType.ROLE_GRANTED,
            acting_user=acting_user,
            request=request,
            target=staff_user,
            department=department,
            extra_data={"role": role, "staff": staff_user.username},
        )
    return staff_role


def role_revoke(*, acting_user: User, staff_role: StaffRole, request: HttpRequest | None = None) -> None:
    perm_needed = Perm.PLATFORM_MANAGE if staff_role.role in PLATFORM_ONLY_ROLES else Perm.STAFF_MANAGE
    require_perm(acting_user, perm_needed, staff_role.department, request=request, action="role_revoke")
    if staff_role.user_id == acting_user.pk and staff_role.role in (
        StaffRoleName.DEPARTMENT_ADMIN,
        StaffRoleName.PLATFORM_ADMIN,
    ):
        raise IdentityError(_("不能撤销自己的管理员角色，请由其他管理员操作。"))
    _role_revoke(acting_user=acting_user, staff_role=staff_role, request=request)


@transaction.atomic(durable=True)
def _role_revoke(*, acting_user: User, staff_role: StaffRole, request: HttpRequest | None) -> None:
    deleted, _count = StaffRole.objects.filter(pk=staff_role.pk).delete()
    if deleted:
        audit_record(
            event_type=AuditEventType.ROLE_REVOKED,
            acting_user=acting_user,
            request=request,
            target=staff_role.user,
            department=staff_role.department,
            extra_data={"role": staff_role.role, "staff": staff_role.user.username},
        )


def staff_create(
    *,
    acting_user: User | None,
    username: str,
    display_name: str,
    password: str,
    department: Department,
    roles: list[str],
    phone: str | None = None,
    request: HttpRequest | None = None,
) -> User:
    """A staff account with its roles. ``acting_user`` None only for set-up commands (demo, bootstrap)."""
    if acting_user is not None:
        require_perm(acting_user, Perm.STAFF_MANAGE, department, request=request, action="staff_create")
    return _staff_create(
        acting_user=acting_user,
        username=username,
        display_name=display_name,
        password=password,
        department=department,
        roles=roles,
        phone=phone,
        request=request,
    )


@transaction.atomic(durable=True)
def _staff_create(
    *,
    acting_user: User | None,
    username: str,
    display_name: str,
    password: str,
    department: Department,
    roles: list[str],
    phone: str | None,
    request: HttpRequest | None,
) -> User:
    username = (username or "").strip().lower()
    if not username or len(username) > 150 or not username.replace(".", "").replace("_", "").isalnum():
        raise IdentityError(_("登录名只能包含字母、数字、点和下划线。"), field="username")
    if User.objects.filter(username=username).exists():
        raise IdentityError(_("该登录名已被使用。"), field="username", code="duplicate")
    user = User(
        username=username,
        account_type=AccountType.STAFF,
        display_name=_clean_name(display_name),
        phone=phone or None,
    )
    _validate_password(password, user)
    user.set_password(password)
    user.save()
    for role in roles:
        StaffRole.objects.create(user=user, department=department, role=role, granted_by=acting_user)
        audit_record(
            event_type=AuditEventType.ROLE_GRANTED,
            acting_user=acting_user,
            request=request,
            target=user,
            department=department,
            extra_data={"role": role, "staff": username},
        )
    return user


def totp_device_for(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


@transaction.atomic(durable=True)
def totp_enrol_start(*, user: User) -> TOTPDevice:
    """A new, unconfirmed authenticator for a staff account that has none yet."""
    if totp_device_for(user) is not None:
        raise IdentityError(_("该账号已绑定动态口令。"))
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=_("动态口令"), confirmed=False)


@transaction.atomic(durable=True)
def totp_enrol_confirm(*, user: User, token: str, request: HttpRequest | None = None) -> TOTPDevice:
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
    if device is None:
        raise IdentityError(_("绑定已过期，请重新登录。"))
    if not device.verify_token((token or "").strip()):
        raise IdentityError(_("动态口令不正确，请查看验证器中最新的6位数字。"), field="token")
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    audit_record(
        event_type=AuditEventType.SECOND_FACTOR_ENROLLED, acting_user=user, request=request, target=user
    )
    return device


# At most this many reset links to one phone per window (seconds, links).
RESET_LINKS_PER_PHONE = ((60, 1), (86400, 5))


def password_reset_request(*, identifier: str, request: HttpRequest) -> None:
    """Send a reset link to the account's phone (SMS channel). Says nothing about whether it exists.
    Links to one phone are limited (RESET_LINKS_PER_PHONE) whatever address asks: the per-address throttle
    of the page alone let anyone with many addresses flood a person's phone. Over the limit nothing is sent
    and the page says the same."""
    user = find_account(identifier, AccountType.PUBLIC)
    sendable = user is not None and user.is_active and bool(user.phone)
    limited = sendable and not all(
        throttle_hit(f"reset-link:{user.phone}:{window}", limit=limit, window_seconds=window)
        for window, limit in RESET_LINKS_PER_PHONE
    )
    audit_record(
        event_type=AuditEventType.PASSWORD_RESET_REQUESTED,
        acting_user=user,
        request=request,
        actor_label=codes.mask_login_identifier(identifier),
        outcome=AuditOutcome.SUCCESS if user and not limited else AuditOutcome.FAILURE,
        extra_data={"reason": "throttled"} if limited else None,
    )
    if not sendable or limited:
        return
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    link = request.build_absolute_uri(reverse("identity:password_reset_confirm", args=[uid, token]))
    minutes = settings.PASSWORD_RESET_TIMEOUT // 60
    send_sms(
        phone=user.phone,
        text=_(
            "【通办】您正在重置密码，请在%(minutes)d分钟内打开链接设置新密码：%(link)s 如非本人操作请忽略。"
        )
        % {"minutes": minutes, "link": link},
    )


@transaction.atomic(durable=True)
def system_client_create(
    *,
    acting_user: User | None,
    department: Department,
    name: str,
    scopes: list[str],
    grant_type: str = "client-credentials",
    redirect_uris: list[str] | None = None,
    trusted: bool = False,
    request: HttpRequest | None = None,
) -> tuple[SystemClient, str]:
    """Register another government system as an OAuth 2 client of ``department``.
    Returns the client and its secret, which is stored hashed and shown only this once."""
    if acting_user is not None and not selectors.staff_has_perm(
        acting_user, Perm.PLATFORM_MANAGE, department
    ):
        raise NotPermitted(_("只有平台管理员可以创建系统接入客户端。"))
    known = set(settings.OAUTH2_PROVIDER_SCOPES)
    unknown = sorted(set(scopes) - known)
    if unknown:
        raise IdentityError(_("未知的权限范围：%(scopes)s") % {"scopes": " ".join(unknown)}, field="scopes")
    if grant_type == Application.GRANT_AUTHORIZATION_CODE:
        if not redirect_uris:
            raise IdentityError(_("单点登录客户端必须登记回调地址。"), field="redirect_uris")
        if "openid" not in scopes:
            raise IdentityError(_("单点登录客户端必须包含 openid 权限范围。"), field="scopes")
        if trusted and "id_number" in scopes:
            raise IdentityError(
                _("可获取公民身份号码的客户端必须经用户逐次同意，不能设为免授权。"), field="scopes"
            )
    elif grant_type != Application.GRANT_CLIENT_CREDENTIALS:
        raise IdentityError(_("不支持的授权方式。"), field="grant_type")
    secret = generate_client_secret()
    application = Application(
        name=name.strip(),
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=grant_type,
        redirect_uris=" ".join(redirect_uris or []),
        client_secret=secret,
        skip_authorization=trusted,
        algorithm=Application.RS256_ALGORITHM if grant_type == Application.GRANT_AUTHORIZATION_CODE else "",
    )
    application.full_clean()
    application.save()
    client = SystemClient.objects.create(
        application=application, department=department, allowed_scopes=" ".join(sorted(set(scopes)))
    )
    audit_record(
        event_type=AuditEventType.CLIENT_CREATED,
        acting_user=acting_user,
        request=request,
        target=client,
        department=department,
        extra_data={
            "client_id": application.client_id,
            "scopes": client.allowed_scopes,
            "grant_type": grant_type,
        },
    )
    return client, secret
