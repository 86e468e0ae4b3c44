"""Case reads: the applicant's cases, staff queues, the public lookup, what an application is prefilled
with and needs, the deadline report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from django.db.models import Q, QuerySet

from tongban.catalog.models import Material, ServiceItemVersion
from tongban.core import codes, workdays
from tongban.core.conditions import evaluate
from tongban.identity.constants import AccountType
from tongban.identity.models import Organisation, StaffRole, User
from tongban.identity.permissions import Perm
from tongban.identity.selectors import organisations_for, staff_has_perm, valid_agencies

from .constants import OPEN_STATUSES, CaseStatus, TaskStatus
from .models import Case, CaseTask, today

QUEUES = {
    "accept": ("accept", "intake_clerk"),
    "review": ("review", "reviewer"),
    "decide": ("decide", "approver"),
    "close": ("close", "intake_clerk"),
}


def applicant_cases(user: User) -> QuerySet[Case]:
    """The one rule for the applicant side: the cases ``user`` may see and act on now (view, correct,
    upload, withdraw, and whatever comes next). Their own cases filed for themself, and every case of an
    organisation they may act for today (``organisations_for``: its legal representative in the current
    data, or an agent whose authorisation is neither revoked nor expired), whoever filed it. The filer of an
    organisation's case loses it with the agency; a new representative gains it. Sub-cases included."""
    if not user.is_authenticated or not user.is_public or user.person_id is None:
        return Case.objects.none()
    return Case.objects.filter(
        Q(organisation__isnull=True, applicant=user)
        | Q(organisation__in=organisations_for(user).order_by().values("pk"))
    )


def applicant_may_act(user: User, case: Case) -> bool:
    return applicant_cases(user).filter(pk=case.pk).exists()


def notice_recipients(cases: Iterable[Case]) -> dict[int, User | None]:
    """Case id -> the account told about the case: the filer while ``applicant_cases`` still gives it to
    them; for an organisation's case whose filer may no longer act for it, the account of its legal
    representative in the current data (None when they have none). Two queries for any number of cases."""
    cases = list(cases)
    org_cases = [c for c in cases if c.organisation_id is not None]
    agencies = set(
        valid_agencies()
        .filter(organisation_id__in={c.organisation_id for c in org_cases})
        .values_list("organisation_id", "person_id")
    )

    def filer_may_act(case: Case) -> bool:
        person_id = case.applicant.person_id
        return (
            case.applicant.is_active
            and person_id is not None
            and (
                case.organisation.legal_representative_id == person_id
                or (case.organisation_id, person_id) in agencies
            )
        )

    orphans = [c for c in org_cases if not filer_may_act(c)]
    representatives = {
        u.person_id: u
        for u in User.objects.filter(
            person_id__in={c.organisation.legal_representative_id for c in orphans},
            account_type=AccountType.PUBLIC,
            is_active=True,
        )
    }
    result: dict[int, User | None] = {c.pk: c.applicant for c in cases}
    for case in orphans:
        result[case.pk] = representatives.get(case.organisation.legal_representative_id)
    return result


def cases_of(user: User, organisation=None) -> QuerySet[Case]:
    """The applicant's list: the cases filed for themself, or, while acting for an organisation, that
    organisation's (both within ``applicant_cases``)."""
    qs = (
        applicant_cases(user)
        .filter(parent__isnull=True)
        .select_related("department", "item_version", "life_event")
    )
    if organisation is not None:
        return qs.filter(organisation=organisation)
    return qs.filter(organisation__isnull=True)


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


# ---- what an application is prefilled with and needs ------------------------------------------------


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


def verified_data(applicant: User, organisation: Organisation | None) -> dict[str, Any]:
    """What 秒批 rules may rely on besides the answers: facts the platform verified itself."""
    person = applicant.person
    data: dict[str, Any] = {}
    if person is not None:
        born = person.birth_date
        now = today()
        data["verified.real_name_level"] = person.real_name_level
        data["verified.age"] = now.year - born.year - ((now.month, now.day) < (born.month, born.day))
    if organisation is not None:
        data["verified.organisation_verified"] = organisation.verification == "registry_verified"
    return data


def materials_needed(version: ServiceItemVersion, answers: Mapping[str, Any]) -> list[Material]:
    """Materials the applicant must upload: required (or whose condition holds) and not obtainable from an
    electronic licence or shared data (免提交)."""
    return [
        m
        for m in version.materials.all()
        if not m.exempt_by_sharing and (m.required if not m.condition else evaluate(m.condition, answers))
    ]


# ---- deadlines ---------------------------------------------------------------------------------------


def cases_due_soon_or_overdue(on: dt.date) -> Iterator[tuple[Case, str, int]]:
    """(case, level, working days left) for open cases that are red (≤ 1 day left) or overdue."""
    cal = workdays.calendar()
    cases = (
        Case.objects.filter(
            status__in=[CaseStatus.SUBMITTED, CaseStatus.IN_PROGRESS, CaseStatus.DECIDED],
            committed_due__isnull=False,
        )
        .select_related("department")
        .only("id", "committed_due", "department__code")
    )
    for case in cases.iterator(chunk_size=5000):
        left = cal.between(on, case.committed_due)
        if left <= 1:
            yield case, ("overdue" if left < 0 else "red"), left


def deadline_report(*, on: dt.date | None = None) -> dict[str, dict[str, int]]:
    """Red and overdue open cases per department code."""
    report: dict[str, dict[str, int]] = {}
    for case, level, _left in cases_due_soon_or_overdue(on or today()):
        report.setdefault(case.department.code, {"red": 0, "overdue": 0})[level] += 1
    return report
