from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExchangeConfig(AppConfig):
    name = "tongban.exchange"
    label = "exchange"
    verbose_name = _("数据共享交换")

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from . import gateway
        from .models import Grant

        # The gateway keeps grants a second per process; a grant written here is seen at once.
        post_save.connect(gateway.forget_grants, sender=Grant, dispatch_uid="exchange.forget_grants")
