from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "tongban.core"
    label = "core"
    verbose_name = _("平台内核")

    def ready(self) -> None:
        # Configure the Celery app from Django settings in every process (web, worker, commands).
        from tongban import celery  # noqa: F401

        from . import checks, notify  # noqa: F401 - the plugin check and the sms plugins
