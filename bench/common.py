"""Helpers shared by the benchmarks: a real server on production-like settings on a free loopback port,
percentiles, a keep-alive load generator.

Environment: BENCH_REDIS_URL (default redis://127.0.0.1:6379/15) is the Redis every bench server and
process uses; BENCH_PORT_BASE, when set, is the first port bench servers bind (the next free one from
there), so that two benches, or a bench and a dev server, do not collide.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """The first free port from BENCH_PORT_BASE on, or any free port the system gives."""
    base = int(os.environ.get("BENCH_PORT_BASE") or 0)
    for port in range(base, base + 200) if base else [0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError(f"no free port in {base}-{base + 199}")


def server_env() -> dict[str, str]:
    """The environment of every bench server: production-like settings (bench.settings), Redis for the
    cache, the rate counters and the Celery broker, and this run's database, data dir and secret key."""
    from django.conf import settings

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "TONGBAN_SECRET_KEY": settings.SECRET_KEY,
        "TONGBAN_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TONGBAN_SECURE_SSL_REDIRECT": "0",
        "REDIS_URL": BENCH_REDIS_URL,
        "TONGBAN_LOG_LEVEL": "WARNING",
    }


def serve(
    *,
    workers: int,
    threads: int,
    env: dict[str, str] | None = None,
    command: str = "serve",
    module: str = "tongban.cli",
) -> tuple[subprocess.Popen, str]:
    """Start `tongban serve` (or ``command``: serve_gateway; or ``module`` bench.limits.serve with
    ``command`` granian or gunicorn) on production-like settings with this run's database (plus ``env``);
    returns the process and its base URL."""
    _collect_static()
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            module,
            command,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
        ],
        env={**server_env(), **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=open(os.environ.get("BENCH_SERVER_LOG", os.devnull), "ab"),  # noqa: SIM115
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(f"{base}/healthz", timeout=1)
            return server, base
        except requests.ConnectionError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError("the server did not start")


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=10)


_static_collected = False


def _collect_static() -> None:
    """Production serves hashed static files from a manifest that collectstatic writes, once per run."""
    global _static_collected
    if not _static_collected:
        subprocess.run(
            [sys.executable, "-m", "tongban.cli", "collectstatic", "--noinput", "-v0"],
            env=server_env(),
            check=True,
        )
        _static_collected = True


@dataclass
class Load:
    """What a load generator measured: timed requests, their latencies (ms) and the failed statuses."""

    requests: int
    seconds: float
    latencies: list[float]
    failures: list[int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99)


def run_load(
    base: str,
    headers: dict[str, str],
    jobs: list[Any],
    send: Callable[[KeepAliveClient, Any], tuple[int, bool]],
    clients: int = 32,
) -> Load:
    """``clients`` threads, each on its own kept-alive connection, take the next job and ``send`` it
    (which returns the status and whether the answer is right) until none is left."""
    host, port = base.removeprefix("http://").split(":")
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[int] = []
    cursor = iter(jobs)

    def worker() -> None:
        conn = KeepAliveClient(host, int(port), headers)
        while True:
            with lock:
                job = next(cursor, None)
            if job is None:
                conn.close()
                return
            t = time.perf_counter()
            status, ok = send(conn, job)
            elapsed = (time.perf_counter() - t) * 1000
            with lock:
                latencies.append(elapsed)
                if not ok:
                    failures.append(status)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Load(len(jobs), time.perf_counter() - started, latencies, failures)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def client_token(base: str | None, client: object, secret: str, scope: str) -> str:
    """An access token for a system client (OAuth 2 client credentials) from the server under test, or
    (``base`` None: the server under test has no token endpoint) from the platform in this process."""
    data = {
        "grant_type": "client_credentials",
        "client_id": client.application.client_id,
        "client_secret": secret,
        "scope": scope,
    }
    if base is None:
        from django.test import Client

        response = Client(HTTP_HOST="localhost").post("/o/token/", data)
    else:
        response = requests.post(f"{base}/o/token/", data=data, timeout=10)
    return response.json()["access_token"]


class KeepAliveClient:
    """A minimal HTTP/1.1 client on one kept-alive connection, for load generators: http.client parses
    every response's headers with the email package, which cost the load generator 0.2 ms of CPU per call
    on the same two cores as the server it measures. Needs a Content-Length on every response."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.address = (host, port)
        self.head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", **headers}.items())
        self.sock: socket.socket | None = None
        self.buffer = b""

    def get(self, target: str) -> tuple[int, bytes]:
        return self.request(f"GET {target} HTTP/1.1\r\n{self.head}\r\n".encode())

    def post(self, target: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head = f"POST {target} HTTP/1.1\r\n{self.head}{extra}Content-Length: {len(body)}\r\n\r\n"
        return self.request(head.encode() + body)

    def request(self, data: bytes) -> tuple[int, bytes]:
        """Send one request and read its response (a server that closes after each, as gunicorn's sync
        workers do, is reconnected for the next)."""
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=30)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buffer = b""
        self.sock.sendall(data)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._fill()
        head, self.buffer = self.buffer[:end].decode("latin-1"), self.buffer[end + 4 :]
        lines = head.split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(fields["content-length"])
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
