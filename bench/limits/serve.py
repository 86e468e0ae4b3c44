"""Serve bench.limits.apps on the platform's own server set-ups:
``python -m bench.limits.serve granian|gunicorn --bind HOST:PORT --workers N --threads N``.

granian as ``tongban serve_gateway`` runs it (tongban.exchange.server.run: WSGI, blocking threads, the same
access log), gunicorn as ``tongban serve`` (tongban.core.management.commands.serve: sync workers, the
access log on stdout)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

APP = "bench.limits.apps:application"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("server", choices=["granian", "gunicorn"])
    parser.add_argument("--bind", required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args(argv)
    host, _, port = args.bind.rpartition(":")
    if args.server == "granian":
        from granian import Granian
        from granian.constants import Interfaces
        from granian.log import LogLevels

        Granian(
            APP,
            address=host,
            port=int(port),
            interface=Interfaces.WSGI,
            workers=args.workers,
            blocking_threads=args.threads,
            log_level=LogLevels(os.environ.get("TONGBAN_LOG_LEVEL", "INFO").lower()),
            log_access=True,
            log_access_format='%(addr)s "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).1fms',
            respawn_failed_workers=True,
        ).serve()
        return
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in {
                "bind": args.bind,
                "workers": args.workers,
                "threads": args.threads,
                "accesslog": "-",
                "timeout": 60,
            }.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from bench.limits.apps import application

            return application

    Server().run()


if __name__ == "__main__":
    main(sys.argv[1:])
