from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegistriesConfig(AppConfig):
    name = "tongban.registries"
    label = "registries"
    verbose_name = _("基础库")

    def ready(self) -> None:
        from tongban.identity import sources

        from .identity_source import RegistriesSource

        # identity checks registrations and organisation claims against the registries (its hook point).
        sources.register_source(RegistriesSource())
