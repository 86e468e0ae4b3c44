"""GovStack Registration BB: applications, documents, tasks and statistics, for other systems.

Callers are system clients (OAuth 2 client credentials) and must send the Information-Mediator-Client
header (INSTANCE/CLASS/MEMBER/SUBSYSTEM); every call is audited with it. A client acts within its own
department: it files and corrects applications only for its department's services and only for people who
authorised it (the OIDC consent page, scope ``registration.apply``; for an organisation, its legal
representative or a valid agent), sees that department's cases and tasks, and completes a task only in the
name of an active staff member of the department who holds the task's role there (and claimed it, if it is
claimed). Refusals are audited."""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid
from typing import Any

from django.db.models import Count, Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, File, Query, Router, Schema
from ninja.errors import HttpError
from ninja.files import UploadedFile

from tongban.catalog.models import ServiceItem
from tongban.core import statements
from tongban.core.constants import AuditEventType
from tongban.core.services import audit_record
from tongban.identity.api import ClientScope, govstack_client
from tongban.identity.constants import StaffRoleName
from tongban.identity.models import Organisation, Person, SystemClient, User
from tongban.identity.selectors import client_consent_for_organisation

from . import selectors, services
from .constants import FINAL_STATUSES, Action, CaseStatus, Outcome, TaskStatus
from .documents import DocumentError, document_store
from .models import Case, CaseDocument, CaseTask

router = Router(tags=["GovStack Registration BB: applications and tasks"])


def _client(request: HttpRequest) -> SystemClient:  # authenticated endpoints only
    return govstack_client(request)


def _audit(request: HttpRequest, action: str, target: Any = None, **extra: Any) -> None:
    client: SystemClient = request.auth
    audit_record(
        event_type=AuditEventType.GOVSTACK_CALL,
        request=request,
        actor_label=client.application.client_id,
        department=client.department,
        target=target,
        extra_data={"action": action, "mediator": request.mediator_client, **extra},
    )


class Status(Schema):
    code: str
    title: str


STATUS = {"PENDING": "Pending", "APPROVED": "Approved", "SENDBACK": "Sent back", "REJECTED": "Rejected"}


def _status(case: Case) -> dict[str, str]:
    if case.status == CaseStatus.CORRECTION:
        code = "SENDBACK"
    elif case.outcome == Outcome.APPROVED:
        code = "APPROVED"
    elif case.outcome == Outcome.REJECTED or case.status in (CaseStatus.REFUSED, CaseStatus.WITHDRAWN):
        code = "REJECTED"
    else:
        code = "PENDING"
    return {"code": code, "title": STATUS[code]}


class FormData(Schema):
    data: dict[str, Any] = {}
    eFormId: str | None = None


class ApplicationSubmit(Schema):
    applicationName: str | None = None
    applicantId: str
    created: dt.datetime | None = None
    formData: FormData = FormData()
    documentUrls: list[str] = []


class ApplicationFile(Schema):
    fileId: str
    applicantId: str
    registered: dt.datetime
    serviceId: uuid.UUID
    serviceName: str
    status: Status
    ended: bool
    applicationData: dict[str, Any]


def _applicant_id(case: Case) -> str:
    """The applicant as this API names them: the organisation filed for, else the person's account."""
    return str(case.organisation.uuid if case.organisation_id else case.applicant.uuid)


def _file(case: Case, documents: list[CaseDocument] | None = None) -> dict[str, Any]:
    version = case.item_version
    if documents is None:
        documents = list(case.documents.all())
    return {
        "fileId": str(case.uuid),
        "applicantId": _applicant_id(case),
        "registered": case.submitted_at,
        "serviceId": version.item.uuid if version else uuid.UUID(int=0),
        "serviceName": case.title,
        "status": _status(case),
        "ended": case.status in FINAL_STATUSES,
        "applicationData": {
            "applicantId": _applicant_id(case),
            "applicationName": case.number,
            "created": case.submitted_at.isoformat(),
            "formData": {
                "data": {k: {"value": v} for k, v in case.answers.items()},
                "eFormId": str(version.uuid) if version else None,
            },
            "documentUrls": [f"/api/registration/documents/{d.uuid}" for d in documents],
        },
    }


def _applicant(applicant_id: str, request: HttpRequest | None = None) -> tuple[User, Organisation | None]:
    """The applicant named by ``applicantId``: a person's account (OpenID Connect ``sub``), or an
    organisation's id, filed for by whichever of its legal representative and valid agents authorised this
    client (given ``request``; the service checks the authorisation and the delegation again)."""
    try:
        key = uuid.UUID(applicant_id)
    except ValueError:
        raise HttpError(400, "applicantId must be the applicant's account id (OpenID Connect sub)") from None
    with statements.cursor() as cursor:
        cursor.execute(_applicant_statement(), [statements.param(User, "uuid", key), "public", True])
        row = cursor.fetchone()
    if row is None:
        organisation = Organisation.objects.filter(uuid=key).first() if request is not None else None
        if organisation is None:
            raise HttpError(404, "applicant not found")
        client = _client(request)
        agent = client_consent_for_organisation(
            organisation=organisation, client=client, scope=services.CONSENT_SCOPE
        )
        if agent is None:
            _audit(request, "submit_refused", target=organisation, reason="no_consent")
            raise HttpError(403, _("该组织的法定代表人或经办人尚未授权本系统代为办理。"))
        return agent, organisation
    user = statements.from_row(User, row)
    person = statements.from_row(Person, row, len(statements.select_list(User, "u")[1]))
    User._meta.get_field("person").set_cached_value(user, person)  # as select_related("person")
    return user, None


@functools.cache
def _applicant_statement() -> str:
    # Every submission looks the applicant up: a statement written once (the ORM compiled this join in
    # 1.15 ms of CPU, the statement runs in 0.23 ms).
    users, _columns = statements.select_list(User, "u")
    people, _columns = statements.select_list(Person, "p")
    return (
        f"SELECT {users}, {people} FROM {statements.table(User)} u "  # noqa: S608
        f"LEFT JOIN {statements.table(Person)} p ON p.id = u.{statements.column(User, 'person')} "
        "WHERE u.uuid = %s AND u.account_type = %s AND u.is_active = %s"
    )


def _documents(urls: list[str], client: SystemClient) -> list[CaseDocument]:
    if not urls:
        return []
    ids = []
    for url in urls:
        match = re.search(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/?$", url)
        if not match:
            raise HttpError(400, f"not a document URL of this platform: {url[:200]}")
        ids.append(match.group(1))
    docs = list(CaseDocument.objects.filter(uuid__in=ids, uploaded_by_client=client, case__isnull=True))
    if len(docs) != len(set(ids)):
        raise HttpError(400, "unknown, foreign or already used document")
    return docs


def _answers(data: dict[str, Any]) -> dict[str, Any]:
    """Form data as the spec shapes it (each value an object, {"value": …}) or plain values."""
    return {k: v["value"] if isinstance(v, dict) and set(v) == {"value"} else v for k, v in data.items()}


def _problem(exc: services.CaseError) -> HttpError:
    status = {"forbidden": 403, "conflict": 409, "withdrawn": 404}.get(exc.code, 400)
    details = "; ".join(f"{k}: {v}" for k, v in exc.problems.items())
    return HttpError(status, f"{exc.message} {details}".strip())


@router.post(
    "/services/{serviceId}/applications",
    exclude_none=True,
    response=ApplicationFile,
    auth=ClientScope("registration.apply"),
    summary="Submit an application on behalf of an applicant (Idempotency-Key header honoured)",
)
def submit_application(request: HttpRequest, serviceId: str, payload: ApplicationSubmit) -> dict[str, Any]:
    client = _client(request)
    started = timezone.now()
    try:
        # Only the key: the service reads the item's published version itself (404 when none).
        item = ServiceItem(uuid=uuid.UUID(serviceId))
    except ValueError:
        raise HttpError(404, "service not found") from None
    applicant, organisation = _applicant(payload.applicantId, request)
    documents = _documents(payload.documentUrls, client)
    key = request.headers.get("Idempotency-Key", "")[:64]
    try:
        case = services.case_submit(
            applicant=applicant,
            organisation=organisation,
            client=client,
            item=item,
            answers=_answers(payload.formData.data),
            idempotency_key=f"gs:{client.pk}:{key}" if key else "",
            documents=documents,
            request=request,
        )
    except services.CaseError as exc:
        _audit(request, "submit_refused", reason=exc.message)
        raise _problem(exc) from None
    # The service's case-submitted record names this system and its mediator header: no second row.
    # A case made by this very request has exactly the documents passed (none: no query needed).
    fresh = case.submitted_at >= started and not documents
    return _file(case, documents=[] if fresh else None)


class UploadResponse(Schema):
    code: int
    type: str
    message: str
    url: str


@router.post(
    "/documents",
    response=UploadResponse,
    auth=ClientScope("registration.apply"),
    summary="Upload a document; additionalMetadata names the material code it is for",
)
def upload_document(
    request: HttpRequest, file: File[UploadedFile], additionalMetadata: str = ""
) -> dict[str, Any]:
    client = _client(request)
    try:
        document = document_store(uploader=None, upload=file, client=client)
    except DocumentError as exc:
        raise HttpError(400, str(exc)) from None
    CaseDocument.objects.filter(pk=document.pk).update(material_code=additionalMetadata[:60])
    _audit(request, "upload", target=document)
    return {
        "code": 200,
        "type": document.content_type,
        "message": "uploaded",
        "url": f"/api/registration/documents/{document.uuid}",
    }


class Paging(Schema):
    serviceId: str | None = None
    applicantId: str | None = None
    firstResult: int = Field(0, ge=0)
    maxResult: int = Field(50, ge=1, le=500)


class ApplicationListItem(Schema):
    fileId: str
    mainTaskId: str | None
    taskTitle: str | None
    roleId: str | None
    roleName: str | None
    assigneeId: str | None
    operatorName: str | None
    serviceId: str
    serviceName: str
    status: Status


def _department_cases(client: SystemClient):
    return Case.objects.filter(department=client.department).select_related(
        "item_version__item", "applicant", "organisation"
    )


@router.get(
    "/applications",
    exclude_none=True,
    response=list[ApplicationListItem],
    auth=ClientScope("registration.read"),
    summary="Applications of the client's department",
)
def list_applications(request: HttpRequest, paging: Query[Paging]) -> list[dict[str, Any]]:
    client = _client(request)
    qs = _department_cases(client).order_by("-submitted_at")
    if paging.serviceId:
        qs = qs.filter(item_version__item__uuid=paging.serviceId) if _is_uuid(paging.serviceId) else qs.none()
    if paging.applicantId:
        qs = (
            qs.filter(Q(applicant__uuid=paging.applicantId) | Q(organisation__uuid=paging.applicantId))
            if _is_uuid(paging.applicantId)
            else qs.none()
        )
    cases = list(qs[paging.firstResult : paging.firstResult + paging.maxResult])
    open_tasks = {}
    for task in CaseTask.objects.filter(case__in=cases, status=TaskStatus.OPEN).select_related("claimed_by"):
        open_tasks.setdefault(task.case_id, task)
    _audit(request, "list_applications", count=len(cases))
    return [
        {
            "fileId": str(c.uuid),
            "mainTaskId": str(open_tasks[c.pk].uuid) if c.pk in open_tasks else None,
            "taskTitle": open_tasks[c.pk].name if c.pk in open_tasks else None,
            "roleId": open_tasks[c.pk].role if c.pk in open_tasks else None,
            "roleName": str(StaffRoleName(open_tasks[c.pk].role).label) if c.pk in open_tasks else None,
            "assigneeId": str(open_tasks[c.pk].claimed_by.uuid)
            if c.pk in open_tasks and open_tasks[c.pk].claimed_by
            else None,
            "operatorName": str(open_tasks[c.pk].claimed_by)
            if c.pk in open_tasks and open_tasks[c.pk].claimed_by
            else None,
            "serviceId": str(c.item_version.item.uuid),
            "serviceName": c.title,
            "status": _status(c),
        }
        for c in cases
    ]


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _case(client: SystemClient, file_id: str) -> Case:
    if not _is_uuid(file_id):
        raise HttpError(404, "application not found")
    case = _department_cases(client).filter(uuid=file_id).first()
    if case is None:
        raise HttpError(404, "application not found")
    return case


@router.get(
    "/applications/{fileId}",
    exclude_none=True,
    response=ApplicationFile,
    auth=ClientScope("registration.read"),
    summary="One application of the client's department",
)
def get_application(request: HttpRequest, fileId: str) -> dict[str, Any]:
    client = _client(request)
    case = _case(client, fileId)
    _audit(request, "read_application", target=case)
    return _file(case)


@router.put(
    "/applications/{fileId}",
    exclude_none=True,
    response=ApplicationFile,
    auth=ClientScope("registration.apply"),
    summary="Send the applicant's correction (only while the application is sent back)",
)
def update_application(request: HttpRequest, fileId: str, payload: ApplicationSubmit) -> dict[str, Any]:
    client = _client(request)
    case = _case(client, fileId)
    # The organisation's case: whichever of its current representatives authorised this system sends it
    # (never its filer as such: a former agent's consent no longer counts). The service checks again.
    by_organisation = case.organisation_id and payload.applicantId == str(case.organisation.uuid)
    applicant, _organisation = _applicant(payload.applicantId, request if by_organisation else None)
    try:
        case = services.case_correct(
            applicant=applicant,
            case=case,
            answers=_answers(payload.formData.data),
            client=client,
            request=request,
        )
    except services.CaseError as exc:
        _audit(request, "correct_refused", target=case, reason=exc.message)
        raise _problem(exc) from None
    _audit(request, "correct", target=case)
    return _file(case)


class TaskOut(Schema):
    taskId: str
    mainTaskId: str
    name: str
    assigneeId: str | None
    roleId: str
    created: dt.datetime | None
    description: str
    serviceId: str
    serviceName: str
    fileId: str
    eFormId: str
    status: Status


class TaskDetail(TaskOut):
    taskName: str
    formVariables: dict[str, Any]
    data: dict[str, Any]


def _task(task: CaseTask) -> dict[str, Any]:
    case = task.case
    return {
        "taskId": str(task.uuid),
        "mainTaskId": str(case.uuid),
        "name": task.name,
        "assigneeId": str(task.claimed_by.uuid) if task.claimed_by else None,
        "roleId": task.role,
        "created": task.opened_at,
        "description": f"{task.department.short_name} {task.name}",
        "serviceId": str(case.item_version.item.uuid),
        "serviceName": case.title,
        "fileId": str(case.uuid),
        "eFormId": str(case.item_version.uuid),
        "status": _status(case),
    }


class TaskFilters(Schema):
    mainTaskId: str | None = None
    fileId: str | None = None
    assigneeId: str | None = None
    firstResult: int = Field(0, ge=0)
    maxResult: int = Field(50, ge=1, le=500)


def _department_tasks(client: SystemClient):
    return CaseTask.objects.filter(department=client.department).select_related(
        "case__item_version__item", "department", "claimed_by"
    )


@router.get(
    "/tasks",
    exclude_none=True,
    response=list[TaskOut],
    auth=ClientScope("registration.tasks"),
    summary="Open tasks in the client's department",
)
def list_tasks(request: HttpRequest, filters: Query[TaskFilters]) -> list[dict[str, Any]]:
    client = _client(request)
    qs = _department_tasks(client).filter(status=TaskStatus.OPEN).order_by("opened_at")
    for value, lookup in (
        (filters.fileId or filters.mainTaskId, "case__uuid"),
        (filters.assigneeId, "claimed_by__uuid"),
    ):
        if value:
            qs = qs.filter(**{lookup: value}) if _is_uuid(value) else qs.none()
    tasks = list(qs[filters.firstResult : filters.firstResult + filters.maxResult])
    _audit(request, "list_tasks", count=len(tasks))
    return [_task(t) for t in tasks]


def _task_by_id(client: SystemClient, task_id: str) -> CaseTask:
    task = _department_tasks(client).filter(uuid=task_id).first() if _is_uuid(task_id) else None
    if task is None:
        raise HttpError(404, "task not found")
    return task


@router.get(
    "/tasks/{taskId}",
    exclude_none=True,
    response=TaskDetail,
    auth=ClientScope("registration.tasks"),
    summary="One task with the application data it needs",
)
def get_task(request: HttpRequest, taskId: str) -> dict[str, Any]:
    client = _client(request)
    task = _task_by_id(client, taskId)
    _audit(request, "read_task", target=task.case)
    # As on the staff workbench: only intake, which verifies the applicant, sees full ID numbers and phones.
    answers = selectors.answers_for_step(task.case, full=task.kind == "accept")
    return {
        **_task(task),
        "taskName": task.name,
        "formVariables": {"actions": {"value": list(services.STEP_ACTIONS[task.kind])}},
        "data": {k: {"value": v} for k, v in answers.items()},
    }


class Completion(Schema):
    data: dict[str, Any]


class CompletedTask(Schema):
    taskId: str
    fileId: str
    serviceId: str
    status: Status
    variables: dict[str, Any]


@router.post(
    "/tasks/{taskId}/complete",
    response=CompletedTask,
    auth=ClientScope("registration.tasks"),
    summary="Complete a task: data = {operatorId, action, reason, correctionItems, lockVersion}",
)
def complete_task(request: HttpRequest, taskId: str, payload: Completion) -> dict[str, Any]:
    client = _client(request)
    task = _task_by_id(client, taskId)
    data = payload.data
    operator = (
        User.objects.filter(uuid=data.get("operatorId")).first()
        if _is_uuid(str(data.get("operatorId")))
        else None
    )
    if operator is None:
        raise HttpError(400, "data.operatorId must be the id of the staff member acting")
    action = str(data.get("action") or "")
    if action not in Action.values:
        raise HttpError(400, f"data.action must be one of {', '.join(services.STEP_ACTIONS[task.kind])}")
    try:
        case = services.task_act(
            actor=operator,
            task=task,
            action=action,
            reason=str(data.get("reason") or ""),
            correction_items=list(data.get("correctionItems") or []),
            expected_version=data.get("lockVersion"),
            client=client,
            request=request,
        )
    except services.CaseError as exc:
        _audit(request, "complete_refused", target=task.case, reason=exc.message)
        raise _problem(exc) from None
    _audit(request, "complete", target=case, task=task.step_key, task_action=action)
    return {
        "taskId": str(task.uuid),
        "fileId": str(case.uuid),
        "serviceId": str(case.item_version.item.uuid),
        "status": _status(case),
        "variables": {"action": {"data": {"result": {"value": action}}}},
    }


class StatisticsQuery(Schema):
    startDate: dt.date | None = None
    endDate: dt.date | None = None
    registrationName: str | None = None
    operator: str | None = None
    role: str | None = None
    timeframe: str | None = Field(None, pattern="^(day|week|month|year)$")


@router.get(
    "/data/statistics",
    summary="Processed, approved, sent back and rejected applications (GovStack statistics)",
)
def statistics(request: HttpRequest, q: Query[StatisticsQuery]) -> list[dict[str, Any]]:
    govstack_client(request)  # public statistics, but the mediator header is still required
    cases = Case.objects.filter(parent__isnull=True)
    if q.startDate:
        cases = cases.filter(submitted_at__date__gte=q.startDate)
    if q.endDate:
        cases = cases.filter(submitted_at__date__lte=q.endDate)
    if q.registrationName:
        cases = cases.filter(title__icontains=q.registrationName[:100])
    if q.operator or q.role:
        tasks = CaseTask.objects.all()
        if q.operator:
            tasks = tasks.filter(completed_by__display_name=q.operator[:60])
        if q.role:
            tasks = tasks.filter(role=q.role[:30])
        cases = cases.filter(pk__in=tasks.values("case_id"))
    totals = cases.aggregate(
        processed=Count("pk", filter=Q(status__in=FINAL_STATUSES) | Q(status=CaseStatus.DECIDED)),
        approved=Count("pk", filter=Q(outcome=Outcome.APPROVED)),
        rejected=Count("pk", filter=Q(outcome=Outcome.REJECTED) | Q(status=CaseStatus.REFUSED)),
    )
    # Counted apart: a join to the events inside the aggregate above would multiply its counts.
    totals["sent_back"] = cases.filter(events__kind="correction_requested").distinct().count()
    timeframe = q.timeframe or ""
    return [
        {
            "processed": totals["processed"],
            "approved": totals["approved"],
            "sentBack": totals["sent_back"],
            "rejected": totals["rejected"],
            "references": {
                k: v
                for k, v in {
                    "startDate": q.startDate,
                    "endDate": q.endDate,
                    "registrationName": q.registrationName,
                    "operator": q.operator,
                    "role": q.role,
                    "timeframeDay": timeframe == "day",
                    "timeframeWeek": timeframe == "week",
                    "timeframeMonth": timeframe == "month",
                    "timeframeYear": timeframe == "year",
                }.items()
                if v is not None
            },
        }
    ]
