"""The lean WSGI path of gateway reads by key answers exactly as the API router does: same statuses, same
bodies, same security headers, same audit entries; and it hands everything else to Django."""

import io
import json
from urllib.parse import parse_qsl, urlencode

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client

from tongban.exchange.fastpath import GatewayFastPath
from tongban.exchange.models import DataAccess, LogEntry
from tongban.testing import resident_number as number

from .conftest import grant_for

pytestmark = pytest.mark.django_db
HEADERS = [
    "Content-Type",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "Content-Security-Policy",
    "Permissions-Policy",
]


@pytest.fixture
def app():
    return GatewayFastPath(WSGIHandler())


def wsgi(app, path, *, query="", headers=None, method="GET", host="testserver"):
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path.encode().decode("latin-1"),
        "QUERY_STRING": urlencode(parse_qsl(query)),  # as a server hands it over: percent-encoded
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": host,
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "CONTENT_LENGTH": "0",
        **(headers or {}),
    }
    seen = {}

    def start_response(status, response_headers, exc_info=None):
        seen["status"] = int(status.split()[0])
        seen["headers"] = dict(response_headers)

    # As Django's test client does around each request: the test's transaction must outlive it.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = app(environ, start_response)
        body = b"".join(response)
        getattr(response, "close", lambda: None)()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return seen["status"], seen["headers"], body


def same_answer(app, world, path, query="", headers=None):
    headers = world["health_token"] if headers is None else headers
    fast_status, fast_headers, fast_body = wsgi(app, path, query=query, headers=headers)
    params = dict(p.split("=", 1) for p in query.split("&") if p)
    routed = Client().get(path, params, **headers)
    assert fast_status == routed.status_code, (fast_body, routed.content)
    fast, slow = json.loads(fast_body), routed.json()
    if fast_status == 200:
        assert set(fast["receipt"]) == set(slow["receipt"])
        fast.pop("receipt"), slow.pop("receipt")
    assert fast == slow
    for name in HEADERS:
        assert fast_headers.get(name) == routed.headers.get(name), name
    assert fast_headers["X-Request-ID"]
    return fast_status, fast


def test_reads_refusals_and_headers_match_the_router(app, world):
    key_path = f"/api/exchange/gateway/person-basic/records/{number(1)}"
    assert same_answer(app, world, key_path)[1]["code"] == "no_grant"
    grant_for(world, world["health"], ["id_number", "name", "phone"], clear_fields=["id_number"])
    status, body = same_answer(app, world, key_path, "purpose=新生儿落户")
    assert status == 200 and body["records"] == [
        {"id_number": number(1), "name": "居民1", "phone": "********"}
    ]
    assert same_answer(app, world, key_path, "fields=name")[1]["records"] == [{"name": "居民1"}]
    assert same_answer(app, world, key_path, "fields=name,area_code")[1]["code"] == "fields_not_granted"
    assert same_answer(app, world, "/api/exchange/gateway/nope/records/1")[1]["code"] == "unknown_resource"
    missing = f"/api/exchange/gateway/person-basic/records/{number(90)}"
    assert same_answer(app, world, missing)[1]["code"] == "not_found"
    # The tracker and the log got the same rows from both ways in.
    reads = DataAccess.objects.filter(subject=number(1))
    assert reads.count() == 4 and {r.purpose for r in reads} >= {"新生儿落户"}


def test_bad_and_missing_tokens_are_refused_and_logged(app, world):
    path = f"/api/exchange/gateway/person-names/records/{number(1)}"
    before = LogEntry.objects.count()
    forged = {"HTTP_AUTHORIZATION": "Bearer forged-token"}
    assert same_answer(app, world, path, headers=forged) == (401, {"detail": "Unauthorized"})
    assert same_answer(app, world, path, headers={})[0] == 401
    entries = [json.loads(e.leaf) for e in LogEntry.objects.filter(pk__gt=before)]
    assert [e["error"] for e in entries] == ["bad_token"] * 4 and entries[0]["token"] == entries[1]["token"]
    assert "forged-token" not in "".join(LogEntry.objects.values_list("leaf", flat=True))


def test_everything_else_goes_to_django(app, world, settings):
    status, _headers, body = wsgi(app, "/api/exchange/resources", headers=world["health_token"])
    assert status == 200 and json.loads(body)[0]["code"]
    status, _headers, _body = wsgi(
        app,
        f"/api/exchange/gateway/person-names/records/{number(1)}",
        headers=world["health_token"],
        host="evil.example",
    )
    assert status == 400  # DisallowedHost, answered by Django
    settings.SECURE_SSL_REDIRECT = True
    strict = GatewayFastPath(WSGIHandler())  # Django's middleware reads the setting when built
    path = f"/api/exchange/gateway/person-names/records/{number(1)}"
    status, headers, _body = wsgi(strict, path, headers=world["health_token"])
    assert status == 301 and headers["Location"].startswith("https://")


def test_it_can_be_turned_off(world, settings, app):
    settings.TONGBAN_GATEWAY_FAST_PATH = False
    off = GatewayFastPath(app.app)
    assert not off.enabled
    status, headers, _body = wsgi(
        off, f"/api/exchange/gateway/person-names/records/{number(1)}", headers=world["health_token"]
    )
    assert status == 200 and "Vary" in headers  # Django's own response (the stack adds Vary)
