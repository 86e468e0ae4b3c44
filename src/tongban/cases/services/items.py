"""One item's case at submission: the published version (kept per process), the checks, the case number,
the tasks of its workflow, the uploads and the licences that stand in for materials."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Mapping
from typing import Any

from django.db import connection
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from tongban.catalog.models import ServiceItem, ServiceItemVersion
from tongban.core import fastinsert, statements
from tongban.core.cache import TimedCache
from tongban.core.constants import AuditEventType
from tongban.core.services import audit_record
from tongban.identity.models import Department, Organisation, SystemClient, User

from ..constants import EventKind, TaskStatus
from ..documents import DocumentError, document_store
from ..models import Case, CaseDocument, CaseNumberCounter, CaseTask, today
from ..selectors import materials_needed
from .base import CaseError, _event, _other_department, check_application
from .instant import _instant_decision

QUERY_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _next_number(area_code: str) -> str:
    day = today()
    # One statement that increments and returns (the row lock is then held only until this commit).
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE cases_casenumbercounter SET last = last + 1 WHERE day = %s AND area_code = %s RETURNING last",
            [day, area_code],
        )
        row = cursor.fetchone()
    if row is None:
        counter, _created = CaseNumberCounter.objects.select_for_update().get_or_create(
            day=day, area_code=area_code
        )
        CaseNumberCounter.objects.filter(pk=counter.pk).update(last=F("last") + 1)
        counter.refresh_from_db(fields=["last"])
        row = (counter.last,)
    return f"{area_code}{day:%Y%m%d}{row[0]:05d}"


def _assign_number(case: Case, area_code: str) -> None:
    """Give a case its number as late in the transaction as possible: the day's counter row, which every
    submission in the area updates, then stays locked only from here to the commit. Until then the case
    carries a provisional number nobody outside the transaction sees."""
    if connection.vendor == "postgresql":
        # One round trip: increment the counter and number the case in the same statement.
        day = today()
        with statements.cursor() as cursor:
            cursor.execute(
                "WITH c AS (UPDATE cases_casenumbercounter SET last = last + 1 WHERE day = %s AND area_code = %s "
                "RETURNING last) UPDATE cases_case SET number = %s || lpad(c.last::text, greatest(5, "
                "length(c.last::text)), '0') FROM c WHERE cases_case.id = %s RETURNING cases_case.number",
                [day, area_code, f"{area_code}{day:%Y%m%d}", case.pk],
            )
            row = cursor.fetchone()
        if row is not None:
            case.number = row[0]
            return
    case.number = _next_number(area_code)  # the day's first case in the area creates the counter
    with connection.cursor() as cursor:  # the hottest statement of a submission: no ORM query building
        cursor.execute("UPDATE cases_case SET number = %s WHERE id = %s", [case.number, case.pk])


def _provisional_number() -> str:
    return "TMP" + secrets.token_hex(8)


def _query_code() -> str:
    return "".join(secrets.choice(QUERY_CODE_ALPHABET) for _ in range(6))


def _check_applicant_type(version: ServiceItemVersion, organisation: Organisation | None) -> None:
    if organisation is None and "person" not in version.applicant_types:
        raise CaseError(_("该事项面向法人，请切换为代表组织办事后再申请。"), code="applicant_type")
    if organisation is not None and "organisation" not in version.applicant_types:
        raise CaseError(_("该事项面向个人，请切换为个人身份后再申请。"), code="applicant_type")


def _locked_published(item: ServiceItem) -> ServiceItemVersion:
    """The item's current published version, read in this transaction: a version withdrawn a moment ago
    is refused. No lock is needed: a submission that read the version before a withdrawal committed is
    simply ordered before it."""
    by = "id" if item.pk is not None else "uuid"  # ServiceItem(uuid=…) from the API
    with statements.cursor() as cursor:
        cursor.execute(_published_statement(by), [statements.param(ServiceItem, by, getattr(item, by))])
        row = cursor.fetchone()
    if row is None or row[0] is None:
        raise CaseError(_("该事项已停止办理，请查看最新办事指南。"), code="withdrawn")
    key = str(row[1])
    version = _published_versions.get(key)
    if version is None:
        version = (
            ServiceItemVersion.objects.select_related("item__department__area")
            .prefetch_related("materials")
            .get(pk=row[0])
        )
        _published_versions.set(key, version)
    return version


@functools.cache
def _published_statement(by: str) -> str:
    # Run by every submission: written once rather than compiled by the ORM each time.
    return (
        f"SELECT i.{statements.column(ServiceItem, 'published_version')}, v.uuid "  # noqa: S608
        f"FROM {statements.table(ServiceItem)} i LEFT JOIN {statements.table(ServiceItemVersion)} v "
        f"ON v.id = i.{statements.column(ServiceItem, 'published_version')} "
        f"WHERE i.{statements.column(ServiceItem, by)} = %s"
    )


# Published versions with their item, department, area and materials, by version UUID (never reused). A
# published version never changes, so each process keeps them; for a minute, so that a renamed department
# shows its new name soon. Shared read-only between threads.
_published_versions: TimedCache[ServiceItemVersion] = TimedCache(
    "cases.published_versions", seconds=60.0, size=512
)


def _submit_item(
    applicant,
    item,
    answers,
    key,
    organisation,
    request,
    *,
    parent: Case | None = None,
    uploads=None,
    documents=(),
    client: SystemClient | None = None,
) -> Case:
    version = _locked_published(item)
    if client is not None and version.item.department_id != client.department_id:
        raise CaseError(_other_department(), code="forbidden")
    _check_applicant_type(version, organisation)
    data = check_application(
        version.form_schema,
        answers,
        applicant=applicant,
        organisation=organisation,
        needed=functools.partial(materials_needed, version),
        supplied=set(uploads or {}) | {d.material_code for d in documents},
    )
    department = version.item.department
    case = Case(
        number=_provisional_number(),
        query_code=_query_code(),
        applicant=applicant,
        organisation=organisation,
        item_version=version,
        department=department,
        title=version.name,
        answers=data,
        idempotency_key=key if parent is None else "",
        parent=parent,
        life_event=parent.life_event if parent else None,
    )
    fastinsert.insert(case)
    _create_tasks(case, version)
    _store_uploads(case, version, applicant, uploads or {})
    codes_here = {m.code for m in version.materials.all()}  # prefetched
    mine = [d.pk for d in documents if d.material_code in codes_here]
    if mine and CaseDocument.objects.filter(pk__in=mine, case__isnull=True).update(case=case) != len(mine):
        raise CaseError(_("材料文件已被其他办件使用。"), code="conflict")
    _attach_licences(case, version, applicant, organisation)
    _assign_number(case, department.area.code)  # last: the area's counter stays locked until commit
    _event(
        case,
        EventKind.SUBMITTED,
        _("已提交，等待%(d)s受理") % {"d": department.short_name},
        department=department,
    )
    if version.decision_rules:
        _instant_decision(case, version, applicant, organisation)
    if parent is None:
        audit_record(
            event_type=AuditEventType.CASE_SUBMITTED,
            acting_user=applicant,
            request=request,
            target=case,
            department=department,
            extra_data={"number": case.number},
        )
    return case


def _attach_licences(
    case: Case, version: ServiceItemVersion, applicant: User, organisation: Organisation | None
) -> None:
    """Materials a licence can stand in for: the applicant's valid licences of those types are recorded
    against the case (免提交), so the staff see verified licences instead of uploads."""
    wanted = {m.licence_type_code for m in version.materials.all() if m.licence_type_code}
    if not wanted:
        return
    from tongban.licences.services import applicant_holder_codes, held_licences, record_case_uses

    held = held_licences(applicant_holder_codes(applicant, organisation), wanted)
    if held:
        record_case_uses(case, held)


def _store_uploads(
    case: Case, version: ServiceItemVersion, applicant: User, uploads: Mapping[str, Any]
) -> None:
    materials = {m.code: m for m in version.materials.all()}
    problems = {}
    for code, upload in uploads.items():
        if code not in materials:
            continue  # in a bundle: another item's material
        upload.seek(0)
        try:
            document_store(uploader=applicant, upload=upload, material=materials[code], case=case)
        except DocumentError as exc:
            problems[f"material:{code}"] = str(exc)
    if problems:
        raise CaseError(_("有 %(n)d 份材料需要重新上传。") % {"n": len(problems)}, problems=problems)


_department_ids_by_code: TimedCache[int] = TimedCache("cases.department_ids", seconds=60.0)


def _department_ids(codes: set[str]) -> dict[str, int]:
    """Department ids by code, kept a minute per process (a department's code never changes hands, and
    every parallel workflow's submission looks its departments up)."""
    found = {c: pk for c in codes if (pk := _department_ids_by_code.get(c)) is not None}
    missing = codes - found.keys()
    if missing:
        for code, pk in Department.objects.filter(code__in=missing).values_list("code", "id"):
            _department_ids_by_code.set(code, pk)
            found[code] = pk
    return found


def _create_tasks(case: Case, version: ServiceItemVersion) -> None:
    steps = version.workflow.get("steps", [])
    codes = {s.get("department") for s in steps} - {"$self", None}
    departments = _department_ids(codes) if codes else {}
    now = timezone.now()
    tasks = []
    for step in steps:
        code = step.get("department", "$self")
        opens = not step.get("after")
        tasks.append(
            CaseTask(
                case=case,
                step_key=step["key"],
                name=step.get("name") or step["kind"],
                kind=step["kind"],
                after=list(step.get("after", [])),
                department_id=case.department_id if code == "$self" else departments[code],
                role=step["role"],
                status=TaskStatus.OPEN if opens else TaskStatus.WAITING,
                opened_at=now if opens else None,
            )
        )
    if len(tasks) == 1:
        fastinsert.insert(tasks[0])  # the common one-step start: a plain insert costs less
    else:
        CaseTask.objects.bulk_create(tasks)
