"""The workflow engine: staff act on the open tasks of a case (parallel steps and their join, correction
that pauses the clock, decisions), claim and release tasks, and leave internal notes. A staff action that
lost a race is refused."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from tongban.core import workdays
from tongban.core.constants import AuditEventType, AuditOutcome
from tongban.core.services import audit_record
from tongban.identity.constants import StaffRoleName
from tongban.identity.models import StaffRole, SystemClient, User
from tongban.identity.permissions import Perm
from tongban.identity.selectors import staff_has_perm

from ..constants import (
    BATCH_ACTIONS,
    BATCH_LIMIT,
    REASON_REQUIRED,
    STEP_ACTIONS,
    Action,
    CaseStatus,
    EventKind,
    Outcome,
    TaskStatus,
)
from ..models import Case, CaseEvent, CaseTask, today
from ..selectors import staff_can_see, staff_departments
from .base import CaseConflict, CaseError, _client_refused, _event, _finish, _issue_result
from .bundles import _refresh_parent

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
