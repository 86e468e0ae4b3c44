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
