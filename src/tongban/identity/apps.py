from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IdentityConfig(AppConfig):
    name = "tongban.identity"
    label = "identity"
    verbose_name = _("统一身份认证")

    def ready(self) -> None:
        from django.conf import settings
        from oauth2_provider.settings import oauth2_settings

        from . import signals  # noqa: F401
        from .oidc import load_or_create_key

        if not oauth2_settings.OIDC_RSA_PRIVATE_KEY:
            key = load_or_create_key(settings.OIDC_KEY_FILE)
            settings.OAUTH2_PROVIDER["OIDC_RSA_PRIVATE_KEY"] = key
            oauth2_settings.reload()
