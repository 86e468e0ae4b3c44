"""Background work of the platform's core (Celery; beat schedule in settings)."""

from celery import shared_task


@shared_task(name="tongban.core.tasks.send_outbox", ignore_result=True)
def send_outbox_task() -> int:
    from .notify import send_outbox

    return send_outbox()
