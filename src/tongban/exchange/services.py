"""Writes of data sharing: catalogue entries, share requests and their answers, grants. Every grant change
is audited and appended to the Merkle audit log in the same transaction."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from tongban.core import workdays
from tongban.core.constants import AuditEventType
from tongban.core.models import OutboxMessage
from tongban.core.notify import queue_message
from tongban.core.services import audit_record
from tongban.identity.constants import StaffRoleName
from tongban.identity.models import Department, User
from tongban.identity.permissions import Perm
from tongban.identity.selectors import department_staff
from tongban.identity.services import require_perm
from tongban.registries import access
from tongban.registries.models import Registry

from . import auditlog
from .models import (
    Grant,
    RequestStatus,
    Resource,
    ResourceField,
    Sensitivity,
    ShareRequest,
    ShareType,
)

ANSWER_WORKING_DAYS = (
    10  # 《政务数据共享条例》: the provider answers a conditional request within 10 working days
)
REMIND_WORKING_DAYS = 2
MAX_GRANT_DAYS = 3 * 366


class ExchangeError(Exception):
    def __init__(self, message: str, *, problems: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or {}


def operator_department() -> Department | None:
    return Department.objects.filter(code=settings.TONGBAN_EXCHANGE_OPERATOR).first()


def _audit(
    acting_user: User | None,
    action: str,
    department: Department,
    target: Any,
    request: HttpRequest | None,
    **extra,
) -> None:
    audit_record(
        event_type=AuditEventType.DATA_SHARING,
        acting_user=acting_user,
        request=request,
        department=department,
        target=target,
        extra_data={"action": action, **extra},
    )


def audit_subscription(
    acting_user: User, subscription: Any, request: HttpRequest | None, *, action: str
) -> None:
    _audit(
        acting_user,
        action,
        subscription.resource.owner,
        subscription,
        request,
        consumer=subscription.client.department.code,
    )


def _log(action: str, **data: Any) -> int:
    return auditlog.log_append("grant", {"action": action, **data})


# ---- catalogue ----------------------------------------------------------------------------------------


def resource_create(
    *,
    acting_user: User | None,
    registry: Registry,
    code: str,
    name: str,
    share_type: str,
    fields: Sequence[tuple[str, str, int]],
    legal_basis: str = "",
    share_condition: str = "",
    theme: str = "",
    description: str = "",
    area_field: str = "",
    via_bulk: bool = False,
    update_frequency: str = "daily",
    request: HttpRequest | None = None,
) -> Resource:
    """Publish a registry (or part of it) in the catalogue. ``fields``: (name, label, sensitivity)."""
    owner = registry.owner
    if acting_user is not None:
        require_perm(acting_user, Perm.DATA_MANAGE, owner, request=request, action="resource_create")
    problems: dict[str, str] = {}
    if share_type not in ShareType.values:
        problems["share_type"] = _("请选择共享类型。")
    elif share_type != ShareType.UNCONDITIONAL and not legal_basis.strip():
        problems["legal_basis"] = _("有条件共享和不予共享的资源必须写明依据。")
    known = set(access.field_names(registry))
    unknown = [f for f, _label, _s in fields if f not in known]
    if not fields:
        problems["fields"] = _("至少列出一个字段。")
    elif unknown:
        problems["fields"] = _("基础库中没有这些字段：%(f)s") % {"f": "、".join(unknown)}
    if any(s not in Sensitivity.values for _f, _l, s in fields):
        problems["fields"] = _("字段分级只能是 1–4 级。")
    if area_field and area_field not in known:
        problems["area_field"] = _("基础库中没有字段“%(f)s”。") % {"f": area_field}
    if Resource.objects.filter(code=code).exists():
        problems["code"] = _("资源编码已存在。")
    if problems:
        raise ExchangeError(_("信息资源未能登记，请修改标出的内容。"), problems=problems)
    with transaction.atomic(durable=True):
        resource = Resource.objects.create(
            code=code,
            name=name,
            owner=owner,
            registry=registry,
            share_type=share_type,
            legal_basis=legal_basis.strip(),
            share_condition=share_condition.strip(),
            theme=theme,
            description=description,
            area_field=area_field,
            via_bulk=via_bulk,
            update_frequency=update_frequency,
        )
        ResourceField.objects.bulk_create(
            ResourceField(resource=resource, name=f, label=label, sensitivity=s, position=i)
            for i, (f, label, s) in enumerate(fields)
        )
        _audit(acting_user, "resource_create", owner, resource, request, code=code, share_type=share_type)
    return resource


# ---- share requests ---------------------------------------------------------------------------------------


def _number() -> str:
    return "GX" + timezone.localdate().strftime("%Y%m%d") + secrets.token_hex(3).upper()


def _check_fields(resource: Resource, fields: Sequence[str]) -> list[str]:
    known = [f.name for f in resource.fields.all()]
    chosen = [f for f in known if f in set(fields)]
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise ExchangeError(
            _("资源没有这些字段：%(f)s") % {"f": "、".join(unknown)},
            problems={"fields": _("字段不在资源中。")},
        )
    if not chosen:
        raise ExchangeError(_("请至少选择一个字段。"), problems={"fields": _("请至少选择一个字段。")})
    return chosen


def share_request_submit(
    *,
    acting_user: User | None,
    resource: Resource,
    consumer: Department,
    purpose: str,
    legal_basis: str,
    fields: Sequence[str],
    scope_areas: Sequence[str] = (),
    duration_days: int = 365,
    rate_per_minute: int = 600,
    request: HttpRequest | None = None,
) -> ShareRequest:
    if acting_user is not None:
        require_perm(acting_user, Perm.DATA_MANAGE, consumer, request=request, action="share_request_submit")
    problems = {}
    if not purpose.strip():
        problems["purpose"] = _("请写明用途。")
    if not legal_basis.strip():
        problems["legal_basis"] = _("请写明依据（法律法规或职责文件）。")
    if not 1 <= duration_days <= MAX_GRANT_DAYS:
        problems["duration_days"] = _("使用期限为 1 至 %(n)s 天。") % {"n": MAX_GRANT_DAYS}
    if not 1 <= rate_per_minute <= 60_000:
        problems["rate_per_minute"] = _("调用频率为每分钟 1 至 60000 次。")
    if problems:
        raise ExchangeError(_("共享申请未提交，请修改标出的内容。"), problems=problems)
    if resource.share_type == ShareType.UNCONDITIONAL:
        raise ExchangeError(_("无条件共享的资源无需申请，可直接调用。"))
    if resource.owner_id == consumer.pk:
        raise ExchangeError(_("本部门的资源无需申请。"))
    chosen = _check_fields(resource, fields)
    today = timezone.localdate()
    try:
        due_on = workdays.calendar().add(today, ANSWER_WORKING_DAYS)
    except workdays.CalendarMissing as exc:
        raise ExchangeError(str(exc)) from None
    with transaction.atomic(durable=True):
        if ShareRequest.objects.filter(
            resource=resource, consumer=consumer, status=RequestStatus.PENDING
        ).exists():
            raise ExchangeError(_("本部门对该资源已有待答复的申请。"))
        share_request = ShareRequest.objects.create(
            number=_number(),
            resource=resource,
            consumer=consumer,
            requested_by=acting_user,
            purpose=purpose.strip()[:300],
            legal_basis=legal_basis.strip()[:300],
            fields=chosen,
            scope_areas=sorted(set(scope_areas)),
            duration_days=duration_days,
            rate_per_minute=rate_per_minute,
            due_on=due_on,
        )
        _audit(acting_user, "request_submit", consumer, share_request, request, number=share_request.number)
        _log("request", number=share_request.number, resource=resource.code, consumer=consumer.code)
    return share_request


def share_request_answer(
    *,
    acting_user: User | None,
    share_request: ShareRequest,
    approve: bool,
    reason: str = "",
    fields: Sequence[str] | None = None,
    clear_fields: Sequence[str] = (),
    request: HttpRequest | None = None,
) -> ShareRequest:
    """The provider's answer: a grant (possibly narrower than asked) or a refusal with reasons."""
    provider = share_request.resource.owner
    if acting_user is not None:
        require_perm(acting_user, Perm.DATA_MANAGE, provider, request=request, action="share_request_answer")
    reason = (reason or "").strip()
    if not approve and not reason:
        raise ExchangeError(_("拒绝共享必须说明理由。"), problems={"reason": _("请填写拒绝理由。")})
    with transaction.atomic(durable=True):
        locked = ShareRequest.objects.select_for_update().select_related("resource").get(pk=share_request.pk)
        if locked.status != RequestStatus.PENDING:
            raise ExchangeError(_("该申请已处理，不能再次答复。"))
        now = timezone.now()
        locked.answered_at, locked.answered_by = now, acting_user
        if approve:
            granted = _check_fields(locked.resource, fields if fields is not None else locked.fields)
            if set(granted) - set(locked.fields):
                raise ExchangeError(_("授权字段不能超出申请的字段。"))
            grant = Grant.objects.create(
                resource=locked.resource,
                consumer=locked.consumer,
                request=locked,
                purpose=locked.purpose,
                legal_basis=locked.legal_basis,
                fields=granted,
                clear_fields=[f for f in granted if f in set(clear_fields)],
                scope_areas=locked.scope_areas,
                rate_per_minute=locked.rate_per_minute,
                valid_from=now,
                expires_at=now + dt.timedelta(days=locked.duration_days),
            )
            locked.status = RequestStatus.APPROVED
            _log(
                "grant",
                grant=grant.pk,
                resource=locked.resource.code,
                consumer=locked.consumer.code,
                fields=granted,
            )
        else:
            locked.status, locked.refusal_reason = RequestStatus.REFUSED, reason[:2000]
            _log("refuse", number=locked.number, resource=locked.resource.code, consumer=locked.consumer.code)
        locked.save(update_fields=["status", "answered_at", "answered_by", "refusal_reason"])
        _audit(
            acting_user,
            "request_answer",
            provider,
            locked,
            request,
            number=locked.number,
            approve=approve,
            reason=reason,
        )
    return locked


def share_request_withdraw(
    *, acting_user: User | None, share_request: ShareRequest, request: HttpRequest | None = None
) -> None:
    if acting_user is not None:
        require_perm(
            acting_user,
            Perm.DATA_MANAGE,
            share_request.consumer,
            request=request,
            action="share_request_withdraw",
        )
    with transaction.atomic(durable=True):
        locked = ShareRequest.objects.select_for_update().get(pk=share_request.pk)
        if locked.status != RequestStatus.PENDING:
            raise ExchangeError(_("该申请已处理，不能撤回。"))
        locked.status = RequestStatus.WITHDRAWN
        locked.save(update_fields=["status"])
        _audit(acting_user, "request_withdraw", locked.consumer, locked, request, number=locked.number)


def grant_revoke(
    *, acting_user: User | None, grant: Grant, reason: str, request: HttpRequest | None = None
) -> Grant:
    """Revoke at once: the next gateway call under the grant is refused."""
    if acting_user is not None:
        require_perm(
            acting_user, Perm.DATA_MANAGE, grant.resource.owner, request=request, action="grant_revoke"
        )
    reason = (reason or "").strip()
    if not reason:
        raise ExchangeError(_("请填写撤销理由。"), problems={"reason": _("请填写撤销理由。")})
    with transaction.atomic(durable=True):
        locked = Grant.objects.select_for_update().get(pk=grant.pk)
        if locked.revoked_at is not None:
            raise ExchangeError(_("该授权已撤销。"))
        locked.revoked_at, locked.revoked_reason = timezone.now(), reason[:300]
        locked.save(update_fields=["revoked_at", "revoked_reason"])
        _audit(acting_user, "grant_revoke", grant.resource.owner, locked, request, reason=reason)
        _log("revoke", grant=locked.pk, resource=grant.resource.code, consumer=grant.consumer.code)
    return locked


def grant_hold(
    *,
    acting_user: User | None,
    grant: Grant,
    hold_until: dt.date | None,
    reason: str,
    request: HttpRequest | None = None,
) -> Grant:
    """Hold the grant's reads back from the data tracker until a date (covert investigation). Only the data
    bureau's data officers decide it, with a reason, at most two years ahead."""
    if acting_user is not None:
        require_perm(
            acting_user, Perm.DATA_MANAGE, operator_department(), request=request, action="grant_hold"
        )
    reason = (reason or "").strip()
    if hold_until is not None and not reason:
        raise ExchangeError(_("请填写暂缓告知的理由。"), problems={"reason": _("请填写暂缓告知的理由。")})
    if (
        hold_until is not None
        and not timezone.localdate() < hold_until <= timezone.localdate() + dt.timedelta(days=731)
    ):
        raise ExchangeError(
            _("暂缓告知的日期须在今后两年之内。"), problems={"hold_until": _("日期不在允许范围。")}
        )
    with transaction.atomic(durable=True):
        locked = Grant.objects.select_for_update().get(pk=grant.pk)
        locked.hold_until = hold_until
        locked.save(update_fields=["hold_until"])
        _audit(
            acting_user,
            "grant_hold",
            grant.consumer,
            locked,
            request,
            hold_until=hold_until.isoformat() if hold_until else None,
            reason=reason,
        )
        _log("hold", grant=locked.pk, until=hold_until.isoformat() if hold_until else None)
    return locked


def _tell_data_officers(department: Department, text: str) -> None:
    """SMS (and email, where given) to the department's data officers, through the outbox: written in this
    transaction and sent after it commits, retried while the gateway fails. A rolled-back reminder sends
    nothing. The desks show reminders and escalations whatever happens to the messages."""
    officers = department_staff(department).filter(role=StaffRoleName.DATA_OFFICER, user__is_active=True)
    for role in officers.select_related("user"):
        if role.user.phone:
            queue_message(channel=OutboxMessage.SMS, to=role.user.phone, text=text)
        if role.user.email:
            queue_message(
                channel=OutboxMessage.EMAIL, to=role.user.email, text=text, subject=_("共享申请提醒")
            )


def request_deadlines(*, today: dt.date | None = None) -> tuple[int, int]:
    """Remind providers two working days before the deadline; escalate overdue requests to the data bureau.
    Returns (reminded, escalated)."""
    today = today or timezone.localdate()
    cal = workdays.calendar()
    now = timezone.now()
    reminded = escalated = 0
    pending = ShareRequest.objects.filter(status=RequestStatus.PENDING).select_related(
        "resource__owner", "consumer"
    )
    for share_request in pending.filter(reminded_at__isnull=True, escalated_at__isnull=True):
        if share_request.due_on >= today and cal.between(today, share_request.due_on) <= REMIND_WORKING_DAYS:
            with transaction.atomic(durable=True):
                ShareRequest.objects.filter(pk=share_request.pk).update(reminded_at=now)
                _tell_data_officers(
                    share_request.resource.owner,
                    _("【通办】共享申请%(n)s（%(c)s申请%(r)s）将于%(d)s到期，请及时答复。")
                    % {
                        "n": share_request.number,
                        "c": share_request.consumer.short_name,
                        "r": share_request.resource.name,
                        "d": share_request.due_on.isoformat(),
                    },
                )
                _audit(
                    None,
                    "request_remind",
                    share_request.resource.owner,
                    share_request,
                    None,
                    due_on=str(share_request.due_on),
                )
            reminded += 1
    operator = operator_department()
    for share_request in pending.filter(escalated_at__isnull=True, due_on__lt=today):
        with transaction.atomic(durable=True):
            ShareRequest.objects.filter(pk=share_request.pk).update(escalated_at=now)
            text = _("【通办】共享申请%(n)s（%(p)s的%(r)s）已超过答复期限%(d)s，已提请数据主管部门督办。") % {
                "n": share_request.number,
                "p": share_request.resource.owner.short_name,
                "r": share_request.resource.name,
                "d": share_request.due_on.isoformat(),
            }
            for department in {share_request.resource.owner, operator} - {None}:
                _tell_data_officers(department, text)
            _audit(
                None,
                "request_escalate",
                operator or share_request.resource.owner,
                share_request,
                None,
                number=share_request.number,
                provider=share_request.resource.owner.code,
            )
        escalated += 1
    return reminded, escalated
