"""Run the platform on gunicorn, the production WSGI server."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from gunicorn.app.base import BaseApplication


class TongbanServer(BaseApplication):
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from tongban.wsgi import application

        return application


class Command(BaseCommand):
    help = "Serve Tongban with gunicorn (TONGBAN_BIND, TONGBAN_WORKERS, TONGBAN_THREADS configure it)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default=os.environ.get("TONGBAN_BIND", "127.0.0.1:8000"))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("TONGBAN_WORKERS", "2")))
        parser.add_argument("--threads", type=int, default=int(os.environ.get("TONGBAN_THREADS", "4")))

    def handle(self, *args: Any, **options: Any) -> None:
        TongbanServer(
            {
                "bind": options["bind"],
                "workers": options["workers"],
                "threads": options["threads"],
                "accesslog": "-",
                "timeout": 60,
                "forwarded_allow_ips": settings.TONGBAN_FORWARDED_ALLOW_IPS,
            }
        ).run()
