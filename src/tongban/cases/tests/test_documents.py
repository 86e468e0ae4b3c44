"""The ClamAV client against a real TCP listener that answers like clamd: only ``stream: OK`` lets a file
in; FOUND refuses it as infected; an error reply, garbage, a dropped connection or a timeout refuses it as
unscanned (never passes it), with a log line for the operators."""

import logging
import socket
import struct
import threading

import pytest

from tongban.cases.models import CaseDocument

from .conftest import citizen_client, pdf

pytestmark = pytest.mark.django_db


class FakeClamd(threading.Thread):
    """Speaks INSTREAM: reads ``zINSTREAM\\0`` and length-prefixed chunks up to the zero chunk, then
    behaves as ``mode`` says."""

    REPLIES = {
        "ok": b"stream: OK\0",
        "found": b"stream: Eicar-Test-Signature FOUND\0",
        "error": b"INSTREAM size limit exceeded. ERROR\0",
        "garbage": b"\x00\xffhello OK\0",
    }

    def __init__(self, mode: str) -> None:
        super().__init__(daemon=True)
        self.mode = mode
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received = b""
        self.stop = threading.Event()

    def _read(self, conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            part = conn.recv(n - len(data))
            if not part:
                raise ConnectionError
            data += part
        return data

    def run(self) -> None:
        conn, _addr = self.server.accept()
        with conn:
            assert self._read(conn, 10) == b"zINSTREAM\0"
            if self.mode == "closed":
                return
            while True:
                (size,) = struct.unpack("!L", self._read(conn, 4))
                if size == 0:
                    break
                self.received += self._read(conn, size)
            if self.mode == "timeout":
                self.stop.wait(5)
                return
            conn.sendall(self.REPLIES[self.mode])

    def close(self) -> None:
        self.stop.set()
        self.server.close()


def _use_clamd(settings, port: int, **options) -> None:
    scanner = {"id": "clamd", "options": {"address": f"127.0.0.1:{port}", **options}}
    settings.TONGBAN_PLUGINS = {**settings.TONGBAN_PLUGINS, "virus_scanner": scanner}


@pytest.fixture
def clamd(settings):
    servers = []

    def start(mode):
        server = FakeClamd(mode)
        server.start()
        servers.append(server)
        _use_clamd(settings, server.port, timeout=0.5)
        return server

    yield start
    for server in servers:
        server.close()


def upload(city):
    data = {"action": "next", "shop_name": "临江味道", "seats": "40", "material:layout": pdf()}
    return citizen_client(city).post(f"/services/items/{city['food'].implementation_code}/apply/", data)


def test_stream_ok_is_clean(city, clamd):
    server = clamd("ok")
    response = upload(city)
    assert response.status_code == 302, response.content.decode()
    assert CaseDocument.objects.get().scan_status == CaseDocument.CLEAN
    from tongban.cases.demo import DEMO_PDF

    assert server.received == DEMO_PDF  # the whole file went to the scanner


def test_found_is_infected(city, clamd):
    clamd("found")
    response = upload(city)
    assert (
        response.status_code == 200
        and "“经营场所平面布局图”未通过病毒扫描，已拒收。" in response.content.decode()
    )
    assert not CaseDocument.objects.exists()


@pytest.mark.parametrize("mode", ["error", "garbage", "closed", "timeout"])
def test_no_verdict_refuses_the_file(city, clamd, caplog, mode):
    clamd(mode)
    with caplog.at_level(logging.ERROR, logger="tongban.cases.documents"):
        response = upload(city)
    body = response.content.decode()
    assert response.status_code == 200
    assert "“经营场所平面布局图”暂时无法完成病毒扫描，未被接收，请稍后重新上传。" in body
    assert not CaseDocument.objects.exists()
    assert any("gave no verdict" in r.getMessage() for r in caplog.records)


def test_no_daemon_refuses_the_file(city, settings, caplog):
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]  # closed again: nothing listens there
    _use_clamd(settings, port)
    with caplog.at_level(logging.ERROR, logger="tongban.cases.documents"):
        response = upload(city)
    assert "暂时无法完成病毒扫描" in response.content.decode()
    assert not CaseDocument.objects.exists()
    assert any("gave no verdict" in r.getMessage() for r in caplog.records)


def test_api_upload_refused_when_the_scanner_errs(city, clamd):
    """The GovStack document upload goes through the same client: 400 with the Chinese reason."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from tongban.cases.demo import DEMO_PDF
    from tongban.testing import token

    clamd("error")
    response = Client().post(
        "/api/registration/documents?additionalMetadata=layout",
        {"file": SimpleUploadedFile("plan.pdf", DEMO_PDF)},
        **token(city["market"], "registration.apply"),
    )
    assert response.status_code == 400
    assert "“plan.pdf”暂时无法完成病毒扫描" in response.json()["detail"]
    assert not CaseDocument.objects.exists()


def test_the_health_check_pings_clamd():
    """check_config() asks clamd for PONG; a daemon that does not answer is a problem for the operators."""
    from tongban.cases.documents import virus_scanners

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer() -> None:
        conn, _addr = server.accept()
        with conn:
            assert conn.recv(16) == b"zPING\0"
            conn.sendall(b"PONG\0")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    scanner = virus_scanners.get("clamd", {"address": f"127.0.0.1:{port}", "timeout": 2})
    assert scanner.check_config() == []
    thread.join(2)
    server.close()
    assert scanner.check_config()[0].startswith(f"无法连接 clamd 127.0.0.1:{port}：")


def test_the_none_and_eicar_scanners_say_what_they_do():
    from tongban.cases.documents import EICAR, virus_scanners

    assert virus_scanners.get("none").check_config() == ["上传的材料未经病毒扫描即被接收。"]
    assert virus_scanners.get("none").infected(EICAR) is None
    assert virus_scanners.get("eicar").infected(b"x" + EICAR) is True
    assert virus_scanners.get("eicar").check_config() == []
