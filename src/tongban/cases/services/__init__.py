"""Case writes, one module per section: submission (idempotent; one item's case in ``items``, bundles in
``bundles``, instant decisions in ``instant``), the workflow engine (parallel steps, correction that pauses
the clock, decisions), the applicant's correction and withdrawal, and the deadline sweep. Each write is one
durable transaction with its audit record; a staff action that lost a race is refused.

Callers import from here (``from tongban.cases import services``); the modules behind it may move. The
reads an application needs (``prefill``, ``verified_data``, ``materials_needed``, ``deadline_report``) live
in ``cases.selectors`` and are named here too for the callers that knew them here."""

from ..constants import STEP_ACTIONS
from ..selectors import deadline_report, materials_needed, prefill, prefill_values, verified_data
from .applicant import applicant_refused, case_correct, case_withdraw
from .base import CONSENT_SCOPE, CaseConflict, CaseError, check_application
from .deadlines import YELLOW_DAYS, deadline_state, deadline_sweep
from .items import QUERY_CODE_ALPHABET
from .submission import case_check, case_submit
from .workflow import (
    KIND_PERM,
    can_act_on,
    case_comment_add,
    task_act,
    task_claim,
    task_release,
    tasks_act_batch,
)

__all__ = [
    "CONSENT_SCOPE",
    "KIND_PERM",
    "QUERY_CODE_ALPHABET",
    "STEP_ACTIONS",
    "YELLOW_DAYS",
    "CaseConflict",
    "CaseError",
    "applicant_refused",
    "can_act_on",
    "case_check",
    "case_comment_add",
    "case_correct",
    "case_submit",
    "case_withdraw",
    "check_application",
    "deadline_report",
    "deadline_state",
    "deadline_sweep",
    "materials_needed",
    "prefill",
    "prefill_values",
    "task_act",
    "task_claim",
    "task_release",
    "tasks_act_batch",
    "verified_data",
]
