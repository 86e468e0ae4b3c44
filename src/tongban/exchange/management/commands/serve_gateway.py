"""Serve the sharing gateway on its own server (granian), for the reverse proxy's ``/api/exchange/``."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Serve /api/exchange/ on granian (TONGBAN_GATEWAY_BIND, TONGBAN_GATEWAY_WORKERS, "
        "TONGBAN_GATEWAY_THREADS configure it); pages stay on `tongban serve`."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default=os.environ.get("TONGBAN_GATEWAY_BIND", "127.0.0.1:8001"))
        parser.add_argument(
            "--workers", type=int, default=int(os.environ.get("TONGBAN_GATEWAY_WORKERS", "2"))
        )
        parser.add_argument(
            "--threads", type=int, default=int(os.environ.get("TONGBAN_GATEWAY_THREADS", "2"))
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from tongban.exchange.server import run

        run(bind=options["bind"], workers=options["workers"], threads=options["threads"])
