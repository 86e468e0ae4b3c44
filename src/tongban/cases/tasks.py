"""Background work for cases (thin wrappers around services); scheduled by Celery beat in production."""

from celery import shared_task

from .services import deadline_sweep


@shared_task(name="tongban.cases.tasks.deadline_sweep")
def deadline_sweep_task() -> dict[str, dict[str, int]]:
    return deadline_sweep()
