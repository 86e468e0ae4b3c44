"""What the case services share: their errors, the refusal traces, the timeline event, the end of a case
and the licence an approval issues, and the answers check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from tongban.catalog.fields import check_answers
from tongban.catalog.models import ServiceItemVersion
from tongban.core import fastinsert
from tongban.core.conditions import evaluate
from tongban.core.constants import AuditEventType, AuditOutcome
from tongban.core.services import audit_record
from tongban.identity.models import Department, Organisation, SystemClient, User

from ..constants import EventKind, Outcome, TaskStatus
from ..models import Case, CaseEvent, CaseTask

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


def prefill_values(user: User, organisation: Organisation | None) -> dict[str, Any]:
    """What the government already knows, by prefill source name (more sources join with registries)."""
    person = user.person
    values: dict[str, Any] = {}
    if person is not None:
        values.update(
            {
                "person.name": person.name,
                "person.id_number": person.id_number,
                "person.phone": user.phone or person.phone,
                "person.birth_date": person.birth_date.isoformat(),
                "person.sex": "男" if person.sex == "M" else "女",
            }
        )
    if organisation is not None:
        values.update(
            {
                "organisation.name": organisation.name,
                "organisation.uscc": organisation.uscc,
                "organisation.address": organisation.address,
                "organisation.legal_representative": organisation.legal_representative.name,
            }
        )
    return values


def prefill(schema: Mapping[str, Any], user: User, organisation: Organisation | None) -> dict[str, Any]:
    known = prefill_values(user, organisation)
    return {
        name: known[prop["x-prefill"]]
        for name, prop in schema.get("properties", {}).items()
        if prop.get("x-prefill") in known
    }


def validate_answers(schema: Mapping[str, Any], answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers in canonical form; CaseError with every problem at once (一次性告知), in Chinese, keyed
    by field. The checks themselves are the catalogue's field types (catalog.fields.check_answers)."""
    checked = check_answers(schema, answers)
    if checked.problems:
        raise CaseError(
            _("申请信息有 %(n)d 处需要修改。") % {"n": len(checked.problems)}, problems=checked.problems
        )
    return checked.values


def materials_needed(version: ServiceItemVersion, answers: Mapping[str, Any]) -> list[Any]:
    """Materials the applicant must upload: required (or whose condition holds) and not obtainable from an
    electronic licence or shared data (免提交)."""
    return [
        m
        for m in version.materials.all()
        if not m.exempt_by_sharing and (m.required if not m.condition else evaluate(m.condition, answers))
    ]


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
