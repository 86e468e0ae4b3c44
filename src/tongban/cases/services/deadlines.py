"""Deadlines: a case's traffic light, and the daily sweep of red and overdue cases."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _

from tongban.core import workdays

from ..constants import EventKind
from ..models import Case, CaseEvent, today
from ..selectors import cases_due_soon_or_overdue

YELLOW_DAYS = 3


def deadline_state(case: Case, on: dt.date | None = None) -> tuple[int | None, str]:
    """(working days left, level): green, yellow (≤ 3 left), red (due today or tomorrow) or overdue."""
    if case.committed_due is None or not case.is_open:
        return None, "none"
    left = workdays.calendar().between(on or today(), case.committed_due)
    if left < 0:
        return left, "overdue"
    if left <= 1:
        return left, "red"
    if left <= YELLOW_DAYS:
        return left, "yellow"
    return left, "green"


def deadline_sweep(*, on: dt.date | None = None) -> dict[str, dict[str, int]]:
    """Scheduled: note on each red or overdue case's internal timeline (once per day per case) and return
    the per-department report."""
    on = on or today()
    noted_today = set(
        CaseEvent.objects.filter(
            kind=EventKind.COMMENT, public=False, data__sweep_day=on.isoformat()
        ).values_list("case_id", flat=True)
    )
    report: dict[str, dict[str, int]] = {}
    notes = []
    for case, level, left in cases_due_soon_or_overdue(on):
        report.setdefault(case.department.code, {"red": 0, "overdue": 0})[level] += 1
        if case.pk not in noted_today:
            message = (
                (_("已超期 %(n)d 个工作日") % {"n": -left})
                if level == "overdue"
                else _("即将到期，请尽快办理")
            )
            notes.append(
                CaseEvent(
                    case_id=case.pk,
                    kind=EventKind.COMMENT,
                    public=False,
                    message=message,
                    data={"deadline": level, "sweep_day": on.isoformat()},
                )
            )
    CaseEvent.objects.bulk_create(notes, batch_size=2000)
    return report
