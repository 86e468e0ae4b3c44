"""Background work for the registries; scheduled by Celery beat in production."""

from celery import shared_task


@shared_task(name="tongban.registries.tasks.quality_run_all")
def quality_run_all() -> dict[str, float | None]:
    from .models import Registry
    from .quality import run_checks

    return {r.code: run_checks(r).score for r in Registry.objects.all() if r.rules.exists()}


@shared_task(name="tongban.registries.tasks.quality_run")
def quality_run(registry_id: int) -> float | None:
    from .models import Registry
    from .quality import run_checks

    return run_checks(Registry.objects.get(pk=registry_id)).score
