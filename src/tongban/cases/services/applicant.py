"""What the applicant does on a case after submitting it: send a correction, withdraw."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from tongban.core import workdays
from tongban.core.constants import AuditEventType, AuditOutcome
from tongban.core.services import audit_record
from tongban.identity.models import SystemClient, User
from tongban.identity.selectors import client_has_consent

from ..constants import WITHDRAWABLE_STATUSES, CaseStatus, EventKind, TaskStatus
from ..models import Case, CaseTask, today
from ..selectors import applicant_may_act
from .base import (
    CONSENT_SCOPE,
    CaseConflict,
    CaseError,
    _client_refused,
    _event,
    _finish,
    _no_consent,
    check_application,
)
from .bundles import _refresh_parent
from .items import _store_uploads


def applicant_refused(user: User, request: HttpRequest | None, action: str, case: Case) -> None:
    """The trace of a refused applicant-side attempt on a case ``user`` may not act on (a former agent's
    on the organisation's case, say); written outside any rolled-back transaction."""
    audit_record(
        event_type=AuditEventType.PERMISSION_DENIED,
        acting_user=user,
        request=request,
        department=case.department,
        outcome=AuditOutcome.FAILURE,
        target=case,
        extra_data={"action": action, "reason": "not_applicant", "case": case.number},
    )


def _check_applicant_access(
    user: User, case: Case, request: HttpRequest | None, action: str, *, client: SystemClient | None = None
) -> None:
    """Refuse, with an audit trace that is not rolled back, unless ``user`` may act on the case now: the
    filer of their own case, or whoever may act for the case's organisation today (never a filer whose
    agency was revoked or has expired)."""
    if applicant_may_act(user, case):
        return
    if client is not None:
        _client_refused(client, request, action, "not_applicant", applicant=user, target=case)
    else:
        applicant_refused(user, request, action, case)
    raise CaseError(_("这不是您的办件。"), code="forbidden")


def case_correct(
    *,
    applicant: User,
    case: Case,
    answers: Mapping[str, Any],
    uploads: Mapping[str, Any] | None = None,
    client: SystemClient | None = None,
    request: HttpRequest | None = None,
) -> Case:
    """The applicant sends everything asked for; the paused step reopens and the clock resumes, with the
    working days spent waiting added to the deadlines. ``client``: another system sends it for the
    applicant, with their live authorisation (as for case_submit), for a case of its own department.
    ``applicant``: whoever sends it, who must be allowed the case now (``selectors.applicant_cases``)."""
    if client is not None:
        if case.department_id != client.department_id:
            _client_refused(client, request, "case_correct", "other_department", target=case)
            raise CaseError(_("这不是本部门的办件。"), code="forbidden")
        if not client_has_consent(user=applicant, client=client, scope=CONSENT_SCOPE):
            _client_refused(client, request, "case_correct", "no_consent", applicant=applicant, target=case)
            raise CaseError(_no_consent(), code="forbidden")
    _check_applicant_access(applicant, case, request, "case_correct", client=client)
    with transaction.atomic(durable=True):
        case = Case.objects.select_for_update(of=("self",)).select_related("item_version").get(pk=case.pk)
        if case.status != CaseStatus.CORRECTION:
            raise CaseConflict()
        data = check_application(
            case.item_version.form_schema,
            {**case.answers, **dict(answers)},
            applicant=applicant,
            organisation=case.organisation,
        )
        _store_uploads(case, case.item_version, applicant, uploads or {})
        cal = workdays.calendar()
        waited = max(0, cal.between(case.paused_since, today())) if case.paused_since else 0
        case.paused_days += waited
        if case.committed_due:
            case.committed_due = cal.add(case.committed_due, waited)
            case.statutory_due = cal.add(case.statutory_due, waited)
        task = CaseTask.objects.select_for_update().get(case=case, status=TaskStatus.PAUSED)
        task.status = TaskStatus.OPEN
        task.opened_at = timezone.now()
        task.lock_version += 1
        task.save(update_fields=["status", "opened_at", "lock_version"])
        case.answers = data
        case.status = CaseStatus.IN_PROGRESS if case.accepted_on else CaseStatus.SUBMITTED
        case.paused_since = None
        case.correction_items = []
        case.lock_version += 1
        CaseTask.objects.filter(case=case).update(due=case.committed_due)
        case.save()
        _event(case, EventKind.CORRECTED, _("已补正，%(d)s继续办理") % {"d": task.department.short_name})
        audit_record(
            event_type=AuditEventType.CASE_ACTION,
            acting_user=applicant,
            request=request,
            target=case,
            extra_data={"action": "corrected", "waited_workdays": waited},
        )
        if case.parent_id:
            _refresh_parent(case.parent_id)
    return case


def case_withdraw(
    *, applicant: User, case: Case, reason: str = "", request: HttpRequest | None = None
) -> Case:
    """Before a decision, the applicant may withdraw (a bundle withdraws all its open sub-cases).
    ``applicant``: whoever withdraws, who must be allowed the case now (``selectors.applicant_cases``)."""
    _check_applicant_access(applicant, case, request, "case_withdraw")
    with transaction.atomic(durable=True):
        case = Case.objects.select_for_update().get(pk=case.pk)
        if case.status not in WITHDRAWABLE_STATUSES:
            raise CaseError(_("已作出决定或已结束的办件不能撤回。"), code="conflict")
        targets = (
            [case]
            if not case.is_bundle
            else list(
                Case.objects.select_for_update().filter(
                    parent=case,
                    status__in=WITHDRAWABLE_STATUSES,
                )
            )
        )
        for target in targets:
            _finish(target, CaseStatus.WITHDRAWN, reason.strip())
            target.lock_version += 1
            target.save()
            _event(target, EventKind.WITHDRAWN, _("申请人已撤回"))
        if case.is_bundle:
            case.refresh_from_db()
            _refresh_parent(case.pk)
        elif case.parent_id:
            _refresh_parent(case.parent_id)
        audit_record(
            event_type=AuditEventType.CASE_ACTION,
            acting_user=applicant,
            request=request,
            target=case,
            extra_data={"action": "withdrawn"},
        )
    return case
