"""The gateway's own server (``tongban serve_gateway``): only /api/exchange/, bodies refused before they
are read, the process environment kept out of requests; and a real granian answering gateway calls."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest
import requests
from django.db import connection

from tongban.exchange.models import LogEntry
from tongban.exchange.server import GatewayOnly
from tongban.testing import resident_number as number

from .conftest import grant_for


def call(path, environment=(), **environ):
    seen = []

    def app(env, start_response):
        seen.append(env)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app"]

    statuses = []
    wrapped = GatewayOnly(app, environment=environment)
    body = b"".join(
        wrapped(
            {"REQUEST_METHOD": "GET", "PATH_INFO": path, **environ},
            lambda status, headers: statuses.append(status),
        )
    )
    return statuses[0], body, seen[0] if seen else None


def test_only_the_gateway_and_the_health_check_are_served():
    status, body, seen = call("/staff/cases/")
    assert status.startswith("404") and json.loads(body)["code"] == "not_found" and seen is None
    assert call("/admin/")[0].startswith("404")
    assert call("/o/token/")[0].startswith("404")
    assert call("/api/exchange/gateway/x/records/1")[2] is not None
    assert call("/healthz")[2] is not None


@pytest.mark.parametrize(
    ("environ", "status", "code"),
    [
        ({"CONTENT_LENGTH": str(5 * 1024 * 1024 + 1)}, "413", "too_large"),
        ({"HTTP_TRANSFER_ENCODING": "chunked"}, "411", "length_required"),
        ({"CONTENT_LENGTH": "many"}, "400", "bad_request"),
    ],
)
def test_bodies_refused_before_they_are_read(environ, status, code):
    got, body, seen = call("/api/exchange/resources/x/batches", REQUEST_METHOD="POST", **environ)
    assert got.startswith(status) and json.loads(body)["code"] == code and seen is None


def test_a_body_within_the_limit_goes_through():
    assert call("/api/exchange/subscriptions", CONTENT_LENGTH=str(5 * 1024 * 1024))[2] is not None


def test_the_process_environment_is_not_passed_as_request_data():
    # granian copies os.environ into every WSGI environ: secrets, and HTTP_PROXY posing as a header.
    _status, _body, seen = call(
        "/api/exchange/audit/checkpoint",
        environment=["DATABASE_URL", "TONGBAN_SECRET_KEY", "HTTP_PROXY", "PATH_INFO", "REMOTE_ADDR"],
        DATABASE_URL="postgres://tongban:secret@db/tongban",
        TONGBAN_SECRET_KEY="secret",
        HTTP_PROXY="http://evil.example/",
        REMOTE_ADDR="10.0.0.7",
        HTTP_AUTHORIZATION="Bearer t",
    )
    assert "DATABASE_URL" not in seen and "TONGBAN_SECRET_KEY" not in seen and "HTTP_PROXY" not in seen
    assert seen["PATH_INFO"] == "/api/exchange/audit/checkpoint" and seen["REMOTE_ADDR"] == "10.0.0.7"
    assert seen["HTTP_AUTHORIZATION"] == "Bearer t"


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    return (
        f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    )


@pytest.fixture
def gateway_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tongban.cli",
            "serve_gateway",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        ],
        env={**os.environ, "DATABASE_URL": _database_url(), "TONGBAN_LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                assert server.poll() is None, server.stdout.read().decode()
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.mark.django_db(transaction=True)
@pytest.mark.live
def test_granian_answers_gateway_calls_on_kept_alive_connections(world, gateway_server, log_emptied_after):
    grant_for(world, world["health"], ["name", "phone"])
    headers = {"Authorization": world["health_token"]["HTTP_AUTHORIZATION"]}
    before = LogEntry.objects.count()
    session = requests.Session()
    bodies = []
    for n in (1, 2):
        response = session.get(
            f"{gateway_server}/api/exchange/gateway/person-basic/records/{number(n)}",
            params={"purpose": "出生医学证明办理"},
            headers=headers,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert response.headers["X-Content-Type-Options"] == "nosniff" and response.headers["X-Request-ID"]
        bodies.append(response.json())
    assert [b["records"][0]["name"] for b in bodies] == ["居民1", "居民2"]
    assert [b["records"][0]["phone"] for b in bodies] == ["********", "********"]  # grade 4
    indexes = [b["receipt"]["log_index"] for b in bodies]
    assert LogEntry.objects.count() == before + 2 and indexes[1] == indexes[0] + 1
    assert LogEntry.objects.get(pk=indexes[0] + 1).kind == "gateway"
    refused = session.get(
        f"{gateway_server}/api/exchange/gateway/person-basic/records/{number(1)}", timeout=10
    )
    assert refused.status_code == 401  # no token: refused, and logged like every call
    assert LogEntry.objects.count() == before + 3
    other = session.get(f"{gateway_server}/staff/", timeout=10)
    assert other.status_code == 404 and other.json()["code"] == "not_found"
