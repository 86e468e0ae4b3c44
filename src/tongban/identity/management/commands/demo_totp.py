"""Print the current second-factor code of a demo staff account (demo only)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tongban.identity.demo import demo_totp_key


class Command(BaseCommand):
    help = "Show the current TOTP code of a demo staff account."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.TONGBAN_DEMO:
            raise CommandError("demo_totp only works on the demo settings.")
        username = options["username"].strip().lower()
        device = TOTPDevice.objects.filter(user__username=username, confirmed=True).first()
        if device is None or device.key != demo_totp_key(username):
            raise CommandError(f"{username}: 不是已绑定动态口令的演示工作人员账号。")
        code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
        self.stdout.write(f"{code:0{device.digits}d}")
