"""`tongban demo`: migrate, load the demo city, print the logins, serve on http://127.0.0.1:8000."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the demo platform on SQLite with the demo city (http://127.0.0.1:8000)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument("--no-serve", action="store_true", help="prepare everything but do not serve")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("demo_load")
        from tongban.licences.formats import prepare_fonts

        prepare_fonts()  # the licence PDFs' Chinese font, cut once from fonts-noto-cjk (a few seconds)
        if not options["no_serve"]:
            self.stdout.write(f"通办演示平台 / Tongban demo: http://{options['bind']}/  (Ctrl+C 停止)")
            call_command("serve", bind=options["bind"])
