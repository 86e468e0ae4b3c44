"""Case reads: the applicant's cases, staff queues, the public lookup."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from tongban.core import codes, workdays
from tongban.identity.models import StaffRole, User
from tongban.identity.permissions import Perm
from tongban.identity.selectors import staff_has_perm

from .constants import OPEN_STATUSES, TaskStatus
from .models import Case, CaseTask, today

QUEUES = {
    "accept": ("accept", "intake_clerk"),
    "review": ("review", "reviewer"),
    "decide": ("decide", "approver"),
    "close": ("close", "intake_clerk"),
}


def cases_of(user: User, organisation=None) -> QuerySet[Case]:
    qs = Case.objects.filter(parent__isnull=True).select_related("department", "item_version", "life_event")
    if organisation is not None:
        return qs.filter(organisation=organisation)
    return qs.filter(applicant=user, organisation__isnull=True)


def staff_departments(user: User) -> dict[int, set[str]]:
    """Department id -> roles the staff member holds there."""
    result: dict[int, set[str]] = {}
    for department_id, role in StaffRole.objects.filter(user=user).values_list("department_id", "role"):
        result.setdefault(department_id, set()).add(role)
    return result


def queue(user: User, name: str, *, search: str = "") -> QuerySet[CaseTask]:
    """Open tasks of one kind in the departments where the staff member holds the matching role."""
    kind, role = QUEUES[name]
    qs = CaseTask.objects.filter(kind=kind, status=TaskStatus.OPEN).select_related(
        "case__department", "case__applicant", "department", "claimed_by"
    )
    if not staff_has_perm(user, Perm.PLATFORM_MANAGE, None):
        departments = [d for d, roles in staff_departments(user).items() if role in roles]
        qs = qs.filter(department_id__in=departments)
    if search:
        qs = qs.filter(Q(case__number__startswith=search.strip()) | Q(case__title__icontains=search.strip()))
    # Intake is first come, first served (the clock starts at acceptance); later steps soonest-due first.
    return qs.order_by("opened_at", "id") if kind == "accept" else qs.order_by("due", "opened_at", "id")


def overdue(user: User) -> QuerySet[Case]:
    qs = Case.objects.filter(status__in=OPEN_STATUSES, committed_due__lt=today()).select_related("department")
    if not staff_has_perm(user, Perm.PLATFORM_MANAGE, None):
        qs = qs.filter(department_id__in=list(staff_departments(user)))
    return qs.order_by("committed_due")


def queue_counts(user: User) -> dict[str, int]:
    counts = {name: queue(user, name).count() for name in QUEUES}
    counts["overdue"] = overdue(user).count()
    return counts


def staff_can_see(user: User, case: Case) -> bool:
    if staff_has_perm(user, Perm.PLATFORM_MANAGE, None):
        return True
    mine = set(staff_departments(user))
    return case.department_id in mine or case.tasks.filter(department_id__in=mine).exists()


def public_lookup(number: str, query_code: str) -> Case | None:
    case = Case.objects.filter(number=(number or "").strip()).select_related("department").first()
    if case is None or case.query_code != (query_code or "").strip().upper():
        return None
    return case


def provisional_deadline(case: Case) -> bool:
    return bool(case.committed_due) and workdays.calendar().is_provisional(case.committed_due)


def visible_departments(user: User):
    from tongban.identity.models import Department

    if staff_has_perm(user, Perm.PLATFORM_MANAGE, None):
        return Department.objects.all()
    return Department.objects.filter(pk__in=list(staff_departments(user)))


def answers_for_step(case: Case, *, full: bool) -> dict[str, Any]:
    """The answers as staff (or their department's system) see them on a step: identity numbers and phones
    masked unless the step needs them (intake verifies the applicant's identity: ``full``)."""
    properties = case.item_version.form_schema.get("properties", {}) if case.item_version else {}
    if full:
        return dict(case.answers)
    shown: dict[str, Any] = {}
    for name, value in case.answers.items():
        source = properties.get(name, {}).get("x-prefill", "")
        if source.endswith("id_number") or name.endswith("id_number"):
            shown[name] = codes.mask_id_number(str(value))
        elif source.endswith("phone") or name.endswith("phone"):
            shown[name] = codes.mask_phone(str(value))
        else:
            shown[name] = value
    return shown
