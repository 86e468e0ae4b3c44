"""What the case services share: their errors, the one check of an application, the refusal traces, the
timeline event, the end of a case and the licence an approval issues."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from tongban.catalog.fields import check_answers
from tongban.catalog.models import Material
from tongban.core import fastinsert
from tongban.core.constants import AuditEventType, AuditOutcome
from tongban.core.services import audit_record
from tongban.identity.models import Department, Organisation, SystemClient, User

from ..constants import EventKind, Outcome, TaskStatus
from ..models import Case, CaseEvent, CaseTask
from ..selectors import prefill

# What a person grants a system that files applications for them (the OIDC consent page names it).
CONSENT_SCOPE = "registration.apply"


class CaseError(Exception):
    """A refused request; ``problems`` maps form fields to messages when the answers are at fault."""

    def __init__(
        self, message: str, *, problems: dict[str, str] | None = None, code: str = "invalid"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or {}
        self.code = code


class CaseConflict(CaseError):
    def __init__(self) -> None:
        super().__init__(_("该办件已被他人处理或状态已变化，请刷新后重试。"), code="conflict")


def check_application(
    schema: Mapping[str, Any],
    answers: Mapping[str, Any],
    *,
    applicant: User,
    organisation: Organisation | None,
    needed: Callable[[Mapping[str, Any]], Iterable[Material]] | None = None,
    supplied: Collection[str] = frozenset(),
) -> dict[str, Any]:
    """The one check of an application (one item's, a bundle's, the review step's, a correction's): the
    answers in canonical form, with the verified data (prefill) winning over whatever was sent for
    prefilled fields; or CaseError with every problem of the answers and every material still missing told
    together (一次性告知), never one round after the other, in Chinese, keyed by field and by
    ``material:<code>``. ``needed(answers)``: the materials the answers call for, asked with the checked
    answers when they pass (as given otherwise); ``supplied``: the material codes the applicant sent. The
    field checks themselves are the catalogue's field types (catalog.fields.check_answers)."""
    data = {**dict(answers), **prefill(schema, applicant, organisation)}
    checked = check_answers(schema, data)
    missing = {
        f"material:{m.code}": _("请上传“%(m)s”。") % {"m": m.name}
        for m in (needed(data if checked.problems else checked.values) if needed is not None else ())
        if m.code not in supplied
    }
    if checked.problems:
        problems = {**checked.problems, **missing}
        raise CaseError(_("申请信息有 %(n)d 处需要修改。") % {"n": len(problems)}, problems=problems)
    if missing:
        raise CaseError(_("还缺少 %(n)d 份材料。") % {"n": len(missing)}, problems=missing)
    return checked.values


def _no_consent() -> str:
    return _("申请人尚未授权本系统代为办理，请申请人登录后授权“代申请人提交办件和材料”。")


def _other_department() -> str:
    return _("本系统只能向所属部门的事项提交申请。")


def _client_refused(
    client: SystemClient,
    request: HttpRequest | None,
    action: str,
    reason: str,
    *,
    applicant: User | None = None,
    target: Any = None,
    **extra: Any,
) -> None:
    """The trace of a system's refused attempt (written outside the rolled-back transaction)."""
    if applicant is not None:
        extra["applicant"] = str(applicant.uuid)
    audit_record(
        event_type=AuditEventType.PERMISSION_DENIED,
        request=request,
        actor_label=client.application.client_id,
        department=client.department,
        outcome=AuditOutcome.FAILURE,
        target=target,
        extra_data={"action": action, "reason": reason, "client": client.application.client_id, **extra},
    )


def _event(
    case: Case,
    kind: str,
    message: str,
    *,
    public: bool = True,
    actor: User | None = None,
    department: Department | None = None,
    data: dict | None = None,
) -> None:
    fastinsert.insert(
        CaseEvent(
            case=case,
            kind=kind,
            message=message[:300],
            public=public,
            actor=actor,
            department=department,
            data=data or {},
            notice_pending=public,
        )
    )
    if public:
        from ..notify import notify_on_commit

        notify_on_commit()


def _finish(case: Case, status: str, reason: str) -> None:
    case.status = status
    case.closed_at = timezone.now()
    if reason:
        case.decision_reason = reason
    CaseTask.objects.filter(
        case=case, status__in=[TaskStatus.OPEN, TaskStatus.WAITING, TaskStatus.PAUSED]
    ).update(status=TaskStatus.CANCELLED)


def _issue_result(case: Case) -> None:
    """An approved case whose item produces a licence gets it now, signed with the department's seal. A
    licence that cannot be issued (bad face data, say, or a department without the authority to issue that
    type, which is also audited) does not undo the decision: staff are told."""
    if case.outcome != Outcome.APPROVED:
        return
    from tongban.licences.services import (
        IssuerNotAuthorised,
        LicenceError,
        issue_for_case,
        licence_issue_refusal_record,
    )

    try:
        with transaction.atomic():
            licence = issue_for_case(case)
    except LicenceError as exc:
        if isinstance(exc, IssuerNotAuthorised):  # recorded after the savepoint's rollback, so it stays
            licence_issue_refusal_record(exc, acting_user=None, action="issue_for_case", case=case.number)
        _event(case, EventKind.COMMENT, _("电子证照未能自动签发：%(e)s") % {"e": exc.message}, public=False)
        return
    if licence is not None:
        _event(
            case,
            EventKind.LICENCE,
            _("已签发电子证照《%(n)s》，可在“我的证照”查看和使用") % {"n": licence.name},
            department=case.department,
            data={"identifier": licence.identifier},
        )
