from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExchangeConfig(AppConfig):
    name = "tongban.exchange"
    label = "exchange"
    verbose_name = _("数据共享交换")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from tongban.registries import access

        from . import gateway
        from .models import Checkpoint, Grant, Resource, ResourceField

        # The Digital Registries API shows other departments what the catalogue and their grants allow.
        access.sharing_policy = gateway.registry_view

        # The gateway keeps grants a second per process; a grant written here is seen at once.
        post_save.connect(gateway.forget_grants, sender=Grant, dispatch_uid="exchange.forget_grants")
        for model in (Resource, ResourceField):
            for signal in (post_save, post_delete):
                signal.connect(
                    gateway.forget_grants, sender=model, dispatch_uid=f"exchange.forget.{model.__name__}"
                )
        # Receipts name the latest checkpoint, kept a second; one signed in this process is named at once.
        post_save.connect(
            gateway.forget_checkpoint, sender=Checkpoint, dispatch_uid="exchange.forget_checkpoint"
        )
