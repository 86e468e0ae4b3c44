"""Background work for cases (thin wrappers around services); scheduled by Celery beat in production."""

from celery import shared_task

from .services import deadline_sweep


@shared_task(name="tongban.cases.tasks.deadline_sweep")
def deadline_sweep_task() -> dict[str, dict[str, int]]:
    return deadline_sweep()


@shared_task(name="tongban.cases.tasks.notify", ignore_result=True)
def notify_task(case_id: int, message: str) -> None:
    from .models import Case
    from .notify import notify

    case = Case.objects.select_related("applicant").filter(pk=case_id).first()
    if case is not None:
        notify(case, message)


@shared_task(name="tongban.cases.tasks.drafts_purge")
def drafts_purge_task() -> int:
    from .drafts import drafts_purge

    return drafts_purge()
