"""Helpers shared by the benchmarks: a real gunicorn on a free loopback port, percentiles."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(
    *, workers: int, threads: int, env: dict[str, str] | None = None, command: str = "serve"
) -> tuple[subprocess.Popen, str]:
    """Start `tongban serve` (or ``command``: serve_gateway) with this run's settings and database (plus
    ``env``); returns the process and its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tongban.cli",
            command,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
        ],
        env={**os.environ, "TONGBAN_LOG_LEVEL": "WARNING", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def client_token(base: str | None, client: object, secret: str, scope: str) -> str:
    """An access token for a system client (OAuth 2 client credentials) from the server under test, or
    (``base`` None: the server under test has no token endpoint) from the platform in this process."""
    if base is None:
        from django.test import Client

        response = Client(HTTP_HOST="localhost").post(
            "/o/token/",
            {
                "grant_type": "client_credentials",
                "client_id": client.application.client_id,
                "client_secret": secret,
                "scope": scope,
            },
        )
        return response.json()["access_token"]
    response = requests.post(
        f"{base}/o/token/",
        data={
            "grant_type": "client_credentials",
            "client_id": client.application.client_id,
            "client_secret": secret,
            "scope": scope,
        },
        timeout=10,
    )
    return response.json()["access_token"]
