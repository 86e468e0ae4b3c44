"""Background work for cases (thin wrappers around services); scheduled by Celery beat in production."""

from celery import shared_task

from .services import deadline_sweep


@shared_task(name="tongban.cases.tasks.deadline_sweep")
def deadline_sweep_task() -> dict[str, dict[str, int]]:
    return deadline_sweep()


@shared_task(name="tongban.cases.tasks.send_notices", ignore_result=True)
def send_notices_task() -> int:
    from .notify import send_pending_notices

    return send_pending_notices()


@shared_task(name="tongban.cases.tasks.drafts_purge")
def drafts_purge_task() -> int:
    from .drafts import drafts_purge

    return drafts_purge()
