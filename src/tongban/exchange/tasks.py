"""Celery tasks: thin wrappers around the exchange services."""

from __future__ import annotations

from celery import shared_task

from . import auditlog


@shared_task(ignore_result=True)
def audit_checkpoint() -> int:
    """Integrate newly committed audit entries and sign a checkpoint; returns the tree size."""
    checkpoint = auditlog.checkpoint_sign()
    return checkpoint.tree_size if checkpoint else 0


@shared_task(ignore_result=True)
def request_deadlines() -> tuple[int, int]:
    """Remind providers of share requests due soon; escalate overdue ones to the data bureau."""
    from .services import request_deadlines as run

    return run()
