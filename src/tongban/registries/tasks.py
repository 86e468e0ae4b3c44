"""Background work for the registries; scheduled by Celery beat in production."""

from celery import shared_task


@shared_task(name="tongban.registries.tasks.quality_run_all")
def quality_run_all() -> dict[str, float | None]:
    from .models import Registry
    from .quality import run_checks

    return {r.code: run_checks(r).score for r in Registry.objects.exclude(kind="custom") if r.rules.exists()}
