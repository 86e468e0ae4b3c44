"""Instant decisions (秒批): an item's decision rules, checked at submission against the answers and what
the platform verified itself."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _

from tongban.catalog.models import ServiceItemVersion
from tongban.core.conditions import evaluate
from tongban.identity.models import Organisation, User

from ..constants import CaseStatus, EventKind, Outcome, TaskStatus
from ..models import Case, CaseTask, today
from ..selectors import verified_data
from .base import _event, _issue_result


def _instant_decision(
    case: Case, version: ServiceItemVersion, applicant: User, organisation: Organisation | None
) -> None:
    """秒批: every rule holds → accepted, approved and closed by the system at once, with each rule's
    outcome as the reason; otherwise the case goes to people, with what failed noted for them."""
    context = {**case.answers, **verified_data(applicant, organisation)}
    results = [(rule["label"], evaluate(rule["condition"], context)) for rule in version.decision_rules]
    if not all(ok for _label, ok in results):
        failed = "、".join(label for label, ok in results if not ok)
        _event(
            case, EventKind.INSTANT, _("未满足秒批条件（%(f)s），转人工办理") % {"f": failed}, public=False
        )
        return
    now = timezone.now()
    case.status = CaseStatus.CLOSED
    case.outcome = Outcome.APPROVED
    case.accepted_on = today()
    case.decided_at = case.closed_at = now
    case.decision_reason = _("秒批：%(r)s 均满足") % {"r": "、".join(label for label, _ok in results)}
    case.save()
    CaseTask.objects.filter(case=case).update(status=TaskStatus.DONE, action="instant", completed_at=now)
    _event(case, EventKind.INSTANT, _("秒批通过：%(r)s") % {"r": "、".join(label for label, _ok in results)})
    _issue_result(case)
