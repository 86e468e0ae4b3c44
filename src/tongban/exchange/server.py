"""The sharing gateway's own server (``tongban serve_gateway``).

Other departments' systems call the gateway a thousand times a second; citizens and staff use pages. The
two loads want different servers. Pages stay on gunicorn's sync workers behind nginx (uploads are streamed
to disk, slow clients are buffered by the proxy). The gateway runs on granian, whose HTTP handling is
written in Rust and keeps connections alive. On the 2-core benchmark machine that halves the server's CPU
per call (bench/README.md).

The reverse proxy sends ``/api/exchange/`` here and everything else to ``tongban serve``. The application
is the same (the lean path of ``fastpath`` first, then Django). ``GatewayOnly`` keeps this server to its
job:
- it answers 404 outside ``/api/exchange/`` and ``/healthz``;
- it refuses request bodies over the API's 5 MB limit (413) or without a length (411) before reading them;
- it drops the process environment that granian copies into every WSGI environ (database URL, secret key:
  never request data, and ``HTTP_PROXY`` there would pose as a request header)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings

PREFIX = "/api/exchange/"
HEALTH = "/healthz"
# What a WSGI server sets for each request: never taken from the process environment.
_REQUEST_KEYS = frozenset(
    {
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "REMOTE_ADDR",
        "REMOTE_PORT",
        "RAW_URI",
    }
)


class GatewayOnly:
    def __init__(self, app: Callable[..., Iterable[bytes]], environment: Iterable[str] | None = None) -> None:
        self.app = app
        self.process_keys = tuple(
            k for k in (os.environ if environment is None else environment) if k not in _REQUEST_KEYS
        )
        self.max_body = settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        for key in self.process_keys:
            environ.pop(key, None)
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX) and path != HEALTH:
            return _refuse(start_response, 404, "not_found", "this server answers the sharing gateway only")
        if environ.get("HTTP_TRANSFER_ENCODING", "").lower() not in ("", "identity"):
            return _refuse(start_response, 411, "length_required", "send the body with a Content-Length")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _refuse(start_response, 400, "bad_request", "Content-Length is not a number")
        if length > self.max_body:
            return _refuse(start_response, 413, "too_large", "request body over the 5 MB limit")
        return self.app(environ, start_response)


_REASONS = {400: "Bad Request", 404: "Not Found", 411: "Length Required", 413: "Content Too Large"}


def _refuse(start_response: Callable[..., Any], status: int, code: str, message: str) -> list[bytes]:
    body = json.dumps({"code": code, "message": message}).encode()
    start_response(
        f"{status} {_REASONS[status]}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff"),
        ],
    )
    return [body]


def run(*, bind: str, workers: int, threads: int) -> None:
    """Serve ``tongban.gateway_wsgi`` on granian until stopped."""
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    host, _, port = bind.rpartition(":")
    Granian(
        "tongban.gateway_wsgi:application",
        address=host.strip("[]") or "127.0.0.1",
        port=int(port),
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        log_level=LogLevels(settings.LOG_LEVEL.lower()),
        log_access=True,
        log_access_format='%(addr)s "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).1fms',
        respawn_failed_workers=True,
    ).serve()
