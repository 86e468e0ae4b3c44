"""Periodic identity housekeeping (thin wrappers around services)."""

from celery import shared_task

from .housekeeping import housekeeping as run_housekeeping


@shared_task(name="tongban.identity.tasks.housekeeping")
def housekeeping() -> dict[str, int]:
    return run_housekeeping()
