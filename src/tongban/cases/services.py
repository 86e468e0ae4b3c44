"""Case writes: submission (idempotent), the workflow engine (parallel steps, correction that pauses the
clock, decisions), withdrawal. Each is one durable transaction; a staff action that lost a race is refused."""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from tongban.catalog import services as catalog_services
from tongban.catalog.fields import check_answers
from tongban.catalog.models import LifeEvent, ServiceItem, ServiceItemVersion
from tongban.core import fastinsert, statements, workdays
from tongban.core.conditions import evaluate
from tongban.core.constants import AuditEventType, AuditOutcome
from tongban.core.services import audit_record
from tongban.identity.constants import StaffRoleName
from tongban.identity.models import Department, Organisation, StaffRole, SystemClient, User
from tongban.identity.permissions import Perm
from tongban.identity.selectors import can_act_for, client_has_consent, staff_has_perm

from .constants import (
    BATCH_ACTIONS,
    BATCH_LIMIT,
    FINAL_STATUSES,
    REASON_REQUIRED,
    STEP_ACTIONS,
    WITHDRAWABLE_STATUSES,
    Action,
    CaseStatus,
    EventKind,
    Outcome,
    TaskStatus,
)
from .documents import DocumentError, document_store
from .models import Case, CaseDocument, CaseEvent, CaseNumberCounter, CaseTask, today
from .selectors import applicant_may_act

QUERY_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
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


# ---- answers -------------------------------------------------------------------------------------------


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


# ---- numbers -------------------------------------------------------------------------------------------


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


# ---- submission ----------------------------------------------------------------------------------------


def case_submit(
    *,
    applicant: User,
    answers: Mapping[str, Any],
    item: ServiceItem | None = None,
    life_event: LifeEvent | None = None,
    idempotency_key: str = "",
    organisation: Organisation | None = None,
    uploads: Mapping[str, Any] | None = None,
    documents: Sequence[Any] = (),
    client: SystemClient | None = None,
    request: HttpRequest | None = None,
) -> Case:
    """Submit an application for a published item or bundle (uploads keyed by material code). The same idempotency key from the same applicant
    returns the case already created (double click, retry after a timeout, two tabs).

    ``client``: another system files for the applicant (GovStack API). It needs the applicant's live
    authorisation for CONSENT_SCOPE (for an organisation: the authorisation of its legal representative or
    valid agent, who is then the applicant), and files only into its own department's items. Refusals are
    audited."""
    if not applicant.is_public:
        raise CaseError(_("请使用个人或法人账号提交申请。"), code="forbidden")
    if organisation is not None and not can_act_for(applicant, organisation):
        if client is not None:
            _client_refused(client, request, "case_submit", "no_delegation", applicant=applicant)
        raise CaseError(_("您不是该组织的法定代表人或有效经办人。"), code="forbidden")
    if client is not None and not client_has_consent(user=applicant, client=client, scope=CONSENT_SCOPE):
        _client_refused(client, request, "case_submit", "no_consent", applicant=applicant)
        raise CaseError(_no_consent(), code="forbidden")
    key = (idempotency_key or "")[:64]
    # A repeated key is found by the unique constraint, not looked up first: the lookup would cost every
    # submission a query, and a retry is rare. A retry that fails validation (the item was withdrawn since,
    # say) still gets the case its first attempt created.
    try:
        with transaction.atomic(durable=True):
            if life_event is not None:
                if client is not None:  # a bundle spans departments: filed by the person only
                    raise CaseError(_other_department(), code="forbidden")
                return _submit_bundle(
                    applicant, life_event, answers, key, organisation, request, uploads or {}, documents
                )
            if item is None:
                raise CaseError(_("请选择要办理的事项。"))
            return _submit_item(
                applicant,
                item,
                answers,
                key,
                organisation,
                request,
                uploads=uploads or {},
                documents=documents,
                client=client,
            )
    except (IntegrityError, CaseError) as exc:
        existing = _submitted_before(applicant, key)
        if existing is None:
            if client is not None and isinstance(exc, CaseError) and exc.code == "forbidden":
                _client_refused(client, request, "case_submit", "other_department", applicant=applicant)
            raise
        return existing


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


def _submitted_before(applicant: User, key: str) -> Case | None:
    if not key:
        return None
    return Case.objects.filter(applicant=applicant, idempotency_key=key, parent__isnull=True).first()


def case_check(
    *,
    applicant: User,
    answers: Mapping[str, Any],
    item: ServiceItem | None = None,
    life_event: LifeEvent | None = None,
    organisation: Organisation | None = None,
    supplied: set[str] | frozenset[str] = frozenset(),
) -> None:
    """case_submit's checks without writing anything (the review step before submitting): raises
    CaseError with every problem of the answers and every material missing from ``supplied``."""
    if life_event is not None:
        merged = catalog_services.merged_form(life_event, dict(answers))
        data = {**dict(answers), **prefill(merged.schema, applicant, organisation)}
        schema, needed = merged.schema, []
        for version in merged.items:
            needed += materials_needed(version, _item_answers(merged, data, version))
    elif item is not None:
        version = _locked_published(item)
        _check_applicant_type(version, organisation)
        data = {**dict(answers), **prefill(version.form_schema, applicant, organisation)}
        schema, needed = version.form_schema, materials_needed(version, data)
    else:
        raise CaseError(_("请选择要办理的事项。"))
    problems = check_answers(schema, data).problems
    missing = {
        f"material:{m.code}": _("请上传“%(m)s”。") % {"m": m.name} for m in needed if m.code not in supplied
    }
    if problems:
        problems = {**problems, **missing}
        raise CaseError(_("申请信息有 %(n)d 处需要修改。") % {"n": len(problems)}, problems=problems)
    if missing:
        raise CaseError(_("还缺少 %(n)d 份材料。") % {"n": len(missing)}, problems=missing)


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
    return _published_versions.get(str(row[1]), row[0])


@functools.cache
def _published_statement(by: str) -> str:
    # Run by every submission: written once rather than compiled by the ORM each time.
    return (
        f"SELECT i.{statements.column(ServiceItem, 'published_version')}, v.uuid "  # noqa: S608
        f"FROM {statements.table(ServiceItem)} i LEFT JOIN {statements.table(ServiceItemVersion)} v "
        f"ON v.id = i.{statements.column(ServiceItem, 'published_version')} "
        f"WHERE i.{statements.column(ServiceItem, by)} = %s"
    )


class _VersionCache:
    """Published versions with their item, department, area and materials, by version UUID (never reused).
    A published version never changes, so each process keeps them; entries expire after a minute so that
    a renamed department shows its new name soon. Shared read-only between threads."""

    TTL = 60.0
    SIZE = 512

    def __init__(self) -> None:
        self._entries: dict[Any, tuple[float, ServiceItemVersion]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, pk: int) -> ServiceItemVersion:
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.TTL:
            return entry[1]
        version = (
            ServiceItemVersion.objects.select_related("item__department__area")
            .prefetch_related("materials")
            .get(pk=pk)
        )
        with self._lock:
            if len(self._entries) >= self.SIZE:
                self._entries.clear()
            self._entries[key] = (now, version)
        return version


_published_versions = _VersionCache()


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
    # Verified data wins over whatever the browser sent for prefilled fields.
    data = {**dict(answers), **prefill(version.form_schema, applicant, organisation)}
    # Answers and missing materials are told together (一次性告知), never one round after the other.
    checked = check_answers(version.form_schema, data)
    answer_problems = checked.problems
    if not answer_problems:
        data = checked.values
    supplied = set(uploads or {}) | {d.material_code for d in documents}
    missing = {
        f"material:{m.code}": _("请上传“%(m)s”。") % {"m": m.name}
        for m in materials_needed(version, data)
        if m.code not in supplied
    }
    if answer_problems:
        problems = {**answer_problems, **missing}
        raise CaseError(_("申请信息有 %(n)d 处需要修改。") % {"n": len(problems)}, problems=problems)
    if missing:
        raise CaseError(_("还缺少 %(n)d 份材料。") % {"n": len(missing)}, problems=missing)
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


def _item_answers(merged: Any, data: Mapping[str, Any], version: ServiceItemVersion) -> dict[str, Any]:
    """One included item's own answers, mapped back from the bundle's merged form."""
    return {
        item_field: data[merged_field]
        for merged_field, sources in merged.sources.items()
        for code, item_field in sources
        if code == version.item.implementation_code and merged_field in data
    }


def _submit_bundle(applicant, life_event, answers, key, organisation, request, uploads, documents=()) -> Case:
    merged = catalog_services.merged_form(life_event, dict(answers))
    data = {**dict(answers), **prefill(merged.schema, applicant, organisation)}
    # As for one item: answers and the materials still missing from any included item, told together.
    checked = check_answers(merged.schema, data)
    answer_problems = checked.problems
    if not answer_problems:
        data = checked.values
    per_item = {version.pk: _item_answers(merged, data, version) for version in merged.items}
    if answer_problems:
        supplied = set(uploads or {}) | {d.material_code for d in documents}
        missing = {
            f"material:{m.code}": _("请上传“%(m)s”。") % {"m": m.name}
            for version in merged.items
            for m in materials_needed(version, per_item[version.pk])
            if m.code not in supplied
        }
        problems = {**answer_problems, **missing}
        raise CaseError(_("申请信息有 %(n)d 处需要修改。") % {"n": len(problems)}, problems=problems)
    first = merged.items[0].item
    parent = Case.objects.create(
        number=_provisional_number(),
        query_code=_query_code(),
        applicant=applicant,
        organisation=organisation,
        life_event=life_event,
        title=life_event.name,
        answers=data,
        idempotency_key=key,
    )
    for version in merged.items:
        _submit_item(
            applicant,
            version.item,
            per_item[version.pk],
            "",
            organisation,
            request,
            parent=parent,
            uploads=uploads,
            documents=documents,
        )
    if parent.sub_cases.exclude(status=CaseStatus.SUBMITTED).exists():
        _refresh_parent(parent.pk)  # some sub-cases were decided instantly (秒批)
    _assign_number(parent, first.department.area.code)
    _event(parent, EventKind.SUBMITTED, _("已提交，%(n)d个部门将同时办理") % {"n": len(merged.items)})
    audit_record(
        event_type=AuditEventType.CASE_SUBMITTED,
        acting_user=applicant,
        request=request,
        target=parent,
        extra_data={"number": parent.number, "sub_cases": len(merged.items)},
    )
    return parent


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


def materials_needed(version: ServiceItemVersion, answers: Mapping[str, Any]) -> list[Any]:
    """Materials the applicant must upload: required (or whose condition holds) and not obtainable from an
    electronic licence or shared data (免提交)."""
    return [
        m
        for m in version.materials.all()
        if not m.exempt_by_sharing and (m.required if not m.condition else evaluate(m.condition, answers))
    ]


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


_department_cache: dict[str, tuple[float, int]] = {}


def _department_ids(codes: set[str]) -> dict[str, int]:
    """Department ids by code, kept a minute per process (a department's code never changes hands, and
    every parallel workflow's submission looks its departments up)."""
    now = time.monotonic()
    found = {c: hit[1] for c in codes if (hit := _department_cache.get(c)) and now - hit[0] < 60.0}
    missing = codes - found.keys()
    if missing:
        for code, pk in Department.objects.filter(code__in=missing).values_list("code", "id"):
            _department_cache[code] = (now, pk)
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
        from .notify import notify_on_commit

        notify_on_commit()


# ---- the workflow engine --------------------------------------------------------------------------------

KIND_PERM = {
    "accept": Perm.CASE_ACCEPT,
    "review": Perm.CASE_REVIEW,
    "decide": Perm.CASE_DECIDE,
    "close": Perm.CASE_ACCEPT,
}


def can_act_on(user: User, task: CaseTask) -> bool:
    """The staff member holds the task's role in the task's department (or is a platform administrator)."""
    if not user.is_authenticated or not user.is_civil_servant:
        return False
    if staff_has_perm(user, Perm.PLATFORM_MANAGE, None):
        return True
    return StaffRole.objects.filter(user=user, department_id=task.department_id, role=task.role).exists()


def _client_operator_problem(client: SystemClient, operator: User, task: CaseTask) -> str:
    """Why ``operator`` may not act on ``task`` for ``client`` ("" when they may): a system acts only in the
    name of an active staff member of its own department holding the task's role there. A platform
    administrator's account gets no exception here: the system vouches only for its own department."""
    if task.department_id != client.department_id:
        return "other_department"
    if not (operator.is_active and operator.is_civil_servant):
        return "not_staff"
    if not StaffRole.objects.filter(
        user=operator, department_id=client.department_id, role=task.role
    ).exists():
        return "no_role"
    return ""


def _claimed_by_other(task: CaseTask, actor: User) -> bool:
    return bool(task.claimed_by_id) and task.claimed_by_id != actor.pk


def task_act(
    *,
    actor: User,
    task: CaseTask,
    action: str,
    reason: str = "",
    correction_items: list[str] | None = None,
    expected_version: int | None = None,
    client: SystemClient | None = None,
    request: HttpRequest | None = None,
) -> Case:
    """Complete (or pause, for a correction request) one open task. ``expected_version`` is the task's
    lock_version the officer saw; if someone acted first, CaseConflict, and nothing changes. A task a
    colleague claimed is theirs alone. ``client``: another system acts in ``actor``'s name (GovStack API),
    who must be an active staff member of the system's department holding the task's role."""
    problem = _client_operator_problem(client, actor, task) if client is not None else ""
    if problem:
        _client_refused(
            client,
            request,
            "task_act",
            problem,
            target=task.case,
            task=task.step_key,
            task_action=action,
            operator=str(actor.uuid),
        )
        raise CaseError(
            _("办理人须是本部门在职且持有“%(r)s”角色的工作人员。")
            % {"r": dict(StaffRoleName.choices).get(task.role, task.role)},
            code="forbidden",
        )
    if client is None and not can_act_on(actor, task):
        audit_record(
            event_type=AuditEventType.PERMISSION_DENIED,
            acting_user=actor,
            request=request,
            department=task.department,
            outcome=AuditOutcome.FAILURE,
            target=task.case,
            extra_data={"action": action, "task": task.step_key},
        )
        raise CaseError(
            _("您在“%(d)s”没有“%(r)s”的办理权限。") % {"d": task.department.name, "r": task.name},
            code="forbidden",
        )
    if _claimed_by_other(task, actor):
        audit_record(
            event_type=AuditEventType.PERMISSION_DENIED,
            acting_user=actor if client is None else None,
            actor_label=client.application.client_id if client is not None else "",
            request=request,
            department=task.department,
            outcome=AuditOutcome.FAILURE,
            target=task.case,
            extra_data={
                "action": action,
                "task": task.step_key,
                "reason": "claimed_by_other",
                "operator": str(actor.uuid),
            },
        )
        raise CaseError(_("该环节已由 %(n)s 认领。") % {"n": task.claimed_by}, code="forbidden")
    allowed = STEP_ACTIONS.get(task.kind, ())
    if action not in allowed or (action == Action.CORRECTION and task.kind not in ("accept", "review")):
        raise CaseError(_("该环节不能执行此操作。"), code="invalid_action")
    reason = (reason or "").strip()
    if action in REASON_REQUIRED and not reason:
        raise CaseError(_("请填写理由。"), problems={"reason": _("请填写理由。")})
    items = [i.strip() for i in (correction_items or []) if i and i.strip()]
    if action == Action.CORRECTION and not items:
        raise CaseError(
            _("请一次性列明需要补正的全部内容。"), problems={"correction_items": _("请列明需要补正的内容。")}
        )
    with transaction.atomic(durable=True):
        version = task.lock_version if expected_version is None else expected_version
        new_status = TaskStatus.PAUSED if action == Action.CORRECTION else TaskStatus.DONE
        # The claim is checked again in the update: one taken since the check above refuses this action.
        claimed = (
            CaseTask.objects.filter(pk=task.pk, lock_version=version, status=TaskStatus.OPEN)
            .filter(Q(claimed_by__isnull=True) | Q(claimed_by=actor))
            .update(
                status=new_status,
                lock_version=F("lock_version") + 1,
                completed_by=actor,
                completed_at=timezone.now(),
                action=action,
                reason=reason,
            )
        )
        if not claimed:
            raise CaseConflict()
        case = Case.objects.select_for_update().get(pk=task.case_id)
        if not case.is_open:
            raise CaseConflict()
        task.refresh_from_db()
        _apply(case, task, action, reason, items, actor)
        case.lock_version += 1
        case.save()
        CaseTask.objects.filter(case=case).exclude(due=case.committed_due).update(due=case.committed_due)
        audit_record(
            event_type=AuditEventType.CASE_ACTION,
            acting_user=actor,
            request=request,
            target=case,
            department=task.department,
            extra_data={"task": task.step_key, "action": action},
        )
        if case.parent_id:
            _refresh_parent(case.parent_id)
    return case


def tasks_act_batch(
    *,
    actor: User,
    tasks: Sequence[tuple[CaseTask, int | None]],
    action: str,
    request: HttpRequest | None = None,
) -> tuple[list[Case], list[tuple[CaseTask, str]]]:
    """The same no-reason action on many tasks (task, lock_version the officer saw), each in its own
    transaction with every check of task_act: one refused task leaves the others done. Returns the cases
    acted on and the refused tasks with why."""
    if action not in BATCH_ACTIONS.values():
        raise CaseError(_("该操作需要逐件填写理由，不能批量办理。"), code="invalid_action")
    if len(tasks) > BATCH_LIMIT:
        raise CaseError(_("一次最多批量办理 %(n)d 件。") % {"n": BATCH_LIMIT})
    done: list[Case] = []
    refused: list[tuple[CaseTask, str]] = []
    for task, expected in tasks:
        try:
            done.append(
                task_act(actor=actor, task=task, action=action, expected_version=expected, request=request)
            )
        except CaseError as exc:
            refused.append((task, exc.message))
    return done, refused


def _staff_refused(actor: User, request: HttpRequest | None, action: str, case: Case, **extra: Any) -> None:
    audit_record(
        event_type=AuditEventType.PERMISSION_DENIED,
        acting_user=actor,
        request=request,
        department=case.department,
        outcome=AuditOutcome.FAILURE,
        target=case,
        extra_data={"action": action, **extra},
    )


def task_claim(*, actor: User, task: CaseTask, request: HttpRequest | None = None) -> CaseTask:
    """The staff member takes an open task of their role: colleagues see who has it, and only they act on
    it until they release it. Claiming one's own task again changes nothing."""
    if not can_act_on(actor, task):
        _staff_refused(actor, request, "task_claim", task.case, task=task.step_key)
        raise CaseError(_("您没有该环节的办理权限。"), code="forbidden")
    with transaction.atomic(durable=True):
        taken = (
            CaseTask.objects.filter(pk=task.pk, status=TaskStatus.OPEN)
            .filter(Q(claimed_by__isnull=True) | Q(claimed_by=actor))
            .update(claimed_by=actor)
        )
        if not taken:
            raise CaseError(_("该环节已被认领或已办理。"), code="conflict")
        audit_record(
            event_type=AuditEventType.CASE_ACTION,
            acting_user=actor,
            request=request,
            target=task.case,
            department=task.department,
            extra_data={"task": task.step_key, "action": "claim"},
        )
    task.claimed_by = actor
    return task


def task_release(*, actor: User, task: CaseTask, request: HttpRequest | None = None) -> CaseTask:
    """The staff member who claimed a task gives it back to the department's queue."""
    if not can_act_on(actor, task):
        _staff_refused(actor, request, "task_release", task.case, task=task.step_key)
        raise CaseError(_("您没有该环节的办理权限。"), code="forbidden")
    with transaction.atomic(durable=True):
        if not CaseTask.objects.filter(pk=task.pk, claimed_by=actor).update(claimed_by=None):
            raise CaseError(_("该环节不是由您认领的。"), code="conflict")
        audit_record(
            event_type=AuditEventType.CASE_ACTION,
            acting_user=actor,
            request=request,
            target=task.case,
            department=task.department,
            extra_data={"task": task.step_key, "action": "release"},
        )
    task.claimed_by = None
    return task


def case_comment_add(*, actor: User, case: Case, text: str, request: HttpRequest | None = None) -> CaseEvent:
    """An internal note on the case's timeline (never shown to the applicant), by staff of a department
    on the case, in that department's name."""
    from .selectors import staff_can_see, staff_departments

    if not (actor.is_active and actor.is_civil_servant and staff_can_see(actor, case)):
        _staff_refused(actor, request, "case_comment_add", case)
        raise CaseError(_("您没有该办件的查看权限。"), code="forbidden")
    text = (text or "").strip()
    if not text:
        raise CaseError(_("请填写留言内容。"), problems={"text": _("请填写留言内容。")})
    mine = staff_departments(actor)
    on_case = [case.department_id, *case.tasks.order_by("id").values_list("department_id", flat=True)]
    department_id = next((d for d in on_case if d in mine), None)  # None: a platform administrator
    with transaction.atomic(durable=True):
        event = CaseEvent.objects.create(
            case=case,
            kind=EventKind.COMMENT,
            public=False,
            message=text[:300],
            actor=actor,
            department_id=department_id,
        )
        audit_record(
            event_type=AuditEventType.CASE_ACTION,
            acting_user=actor,
            request=request,
            target=case,
            department=event.department,
            extra_data={"action": "comment", "event": event.pk},
        )
    return event


def _apply(case: Case, task: CaseTask, action: str, reason: str, items: list[str], actor: User) -> None:
    dept = task.department
    if action == Action.ACCEPT:
        case.status = CaseStatus.IN_PROGRESS
        case.accepted_on = today()
        version = case.item_version
        cal = workdays.calendar()
        start = case.accepted_on
        case.committed_due = cal.add(start, version.committed_days)
        case.statutory_due = cal.add(start, version.statutory_days)
        _event(
            case,
            EventKind.ACCEPTED,
            _("%(d)s已受理，承诺%(c)s前办结") % {"d": dept.short_name, "c": case.committed_due.isoformat()},
            actor=actor,
            department=dept,
        )
    elif action == Action.REFUSE:
        _finish(case, CaseStatus.REFUSED, reason)
        _event(
            case,
            EventKind.REFUSED,
            _("%(d)s不予受理：%(r)s") % {"d": dept.short_name, "r": reason},
            actor=actor,
            department=dept,
        )
        return
    elif action == Action.CORRECTION:
        case.status = CaseStatus.CORRECTION
        case.paused_since = today()
        case.correction_items = items
        _event(
            case,
            EventKind.CORRECTION_REQUESTED,
            _("请补正：%(i)s") % {"i": "；".join(items)},
            actor=actor,
            department=dept,
            data={"items": items, "reason": reason},
        )
        return
    elif action in (Action.PASS, Action.OBJECT):
        _event(
            case,
            EventKind.TASK_DONE,
            _("%(d)s%(n)s完成") % {"d": dept.short_name, "n": task.name},
            actor=actor,
            department=dept,
            data={"opinion": action, "reason": reason},
        )
        if action == Action.OBJECT:
            _event(case, EventKind.COMMENT, reason, public=False, actor=actor, department=dept)
    elif action in (Action.APPROVE, Action.REJECT):
        case.status = CaseStatus.DECIDED
        case.outcome = Outcome.APPROVED if action == Action.APPROVE else Outcome.REJECTED
        case.decided_at = timezone.now()
        case.decision_reason = reason
        message = _("%(d)s作出准予决定") if action == Action.APPROVE else _("%(d)s作出不予决定：%(r)s")
        _event(
            case,
            EventKind.DECIDED,
            message % {"d": dept.short_name, "r": reason},
            actor=actor,
            department=dept,
        )
    elif action == Action.CLOSE:
        _finish(case, CaseStatus.CLOSED, "")
        _event(case, EventKind.CLOSED, _("已办结"), actor=actor, department=dept)
        _issue_result(case)
        return
    _open_successors(case)


def _open_successors(case: Case) -> None:
    """Open every waiting step whose predecessors are all done (the join of parallel steps)."""
    tasks = list(CaseTask.objects.filter(case=case))
    done = {t.step_key for t in tasks if t.status == TaskStatus.DONE}
    now = timezone.now()
    opened = []
    for t in tasks:
        if t.status == TaskStatus.WAITING and set(t.after) <= done:
            t.status, t.opened_at = TaskStatus.OPEN, now
            opened.append(t)
    if opened:
        CaseTask.objects.bulk_update(opened, ["status", "opened_at"])
        names = "、".join(f"{t.department.short_name}{t.name}" for t in opened)
        _event(case, EventKind.TASK_OPENED, _("正在%(n)s") % {"n": names})
    elif case.status == CaseStatus.DECIDED and not any(
        t.status in (TaskStatus.OPEN, TaskStatus.WAITING) for t in tasks
    ):
        _finish(case, CaseStatus.CLOSED, "")  # a workflow without a closing step ends at the decision
        _event(case, EventKind.CLOSED, _("已办结"))
        _issue_result(case)


def _finish(case: Case, status: str, reason: str) -> None:
    case.status = status
    case.closed_at = timezone.now()
    if reason:
        case.decision_reason = reason
    CaseTask.objects.filter(
        case=case, status__in=[TaskStatus.OPEN, TaskStatus.WAITING, TaskStatus.PAUSED]
    ).update(status=TaskStatus.CANCELLED)


def _refresh_parent(parent_id: int) -> None:
    """A bundle's case follows its sub-cases: closed when all are final, in progress while any is open."""
    parent = Case.objects.select_for_update().get(pk=parent_id)
    statuses = list(Case.objects.filter(parent_id=parent_id).values_list("status", "outcome"))
    finals = set(FINAL_STATUSES)
    if all(s in finals for s, _o in statuses):
        if parent.status not in finals:
            approved = sum(1 for s, o in statuses if s == CaseStatus.CLOSED and o == Outcome.APPROVED)
            uniform = {s for s, _o in statuses}
            # All withdrawn (or all refused) reads as such; any mix of endings is a closed bundle.
            parent.status = uniform.pop() if len(uniform) == 1 else CaseStatus.CLOSED
            parent.closed_at = timezone.now()
            parent.outcome = (
                Outcome.APPROVED
                if approved == len(statuses)
                else (Outcome.REJECTED if approved == 0 else Outcome.APPROVED)
            )
            parent.save(update_fields=["status", "closed_at", "outcome"])
            CaseEvent.objects.create(
                case=parent,
                kind=EventKind.CLOSED,
                message=_("全部事项已办结（%(a)d/%(n)d 项准予）") % {"a": approved, "n": len(statuses)},
            )
    elif any(s == CaseStatus.CORRECTION for s, _o in statuses):
        parent.status = CaseStatus.CORRECTION
        parent.save(update_fields=["status"])
    elif parent.status != CaseStatus.IN_PROGRESS:
        parent.status = CaseStatus.IN_PROGRESS
        parent.save(update_fields=["status"])


# ---- applicant actions ---------------------------------------------------------------------------------


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
        data = {
            **case.answers,
            **dict(answers),
            **prefill(case.item_version.form_schema, applicant, case.organisation),
        }
        data = validate_answers(case.item_version.form_schema, data)
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


# ---- deadlines -----------------------------------------------------------------------------------------

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


def _due_soon_or_overdue(on: dt.date):
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
    """Red and overdue open cases per department code (read only)."""
    report: dict[str, dict[str, int]] = {}
    for case, level, _left in _due_soon_or_overdue(on or today()):
        report.setdefault(case.department.code, {"red": 0, "overdue": 0})[level] += 1
    return report


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
    for case, level, left in _due_soon_or_overdue(on):
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
