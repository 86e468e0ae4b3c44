"""Uploaded materials: size limits, content sniffing (the bytes must be what the name says), a pluggable
virus scanner (``virus_scanner`` plugins, docs/plugins.md), storage outside the web root. Refusals say in Chinese what is wrong."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import socket
import struct
import zipfile
from typing import Any

import filetype
from django.core.files.base import ContentFile
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tongban.catalog.constants import ACCEPTED_FORMATS, MAX_MATERIAL_MB
from tongban.core.registry import Plugin, Registry

from .models import CaseDocument

log = logging.getLogger(__name__)

DEFAULT_MAX_MB = 10
ABSOLUTE_MAX_MB = MAX_MATERIAL_MB
MIME = {
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "ofd": "application/ofd",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class VirusScanner(Plugin):
    """A ``virus_scanner`` plugin: ``infected`` is True when the content is infected, False when it is
    clean, None when this scanner does not scan; ScannerError when it gives no verdict."""

    def infected(self, content: bytes) -> bool | None:
        raise NotImplementedError


virus_scanners: Registry[VirusScanner] = Registry("virus_scanner", label=gettext_lazy("病毒扫描"))


@virus_scanners.register("none")
class NoScanner(VirusScanner):
    label = gettext_lazy("不扫描")

    def infected(self, content: bytes) -> bool | None:
        return None

    def check_config(self) -> list[str]:
        return [_("上传的材料未经病毒扫描即被接收。")]


EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@virus_scanners.register("eicar")
class EicarScanner(VirusScanner):
    """Recognises the industry test signature only: proves the hook end to end without a scanning daemon."""

    label = gettext_lazy("只识别 EICAR 测试特征码（演示用）")

    def infected(self, content: bytes) -> bool | None:
        return EICAR in content


class DocumentError(ValueError):
    pass


class ScannerError(Exception):
    """The scanner gave no verdict (an error reply, garbage, a dropped connection, a timeout): the file is
    refused, never passed unscanned."""


CLAMD_CHUNK = 65536


def _clamd_reply(sock: socket.socket) -> bytes:
    """Read one reply: clamd ends it with NUL (z-commands) and then closes the connection."""
    reply = b""
    while b"\0" not in reply and len(reply) < 4096:
        data = sock.recv(4096)
        if not data:
            break
        reply += data
    return reply.split(b"\0", 1)[0].strip()


@virus_scanners.register(
    "clamd",
    options_schema={
        "type": "object",
        "properties": {
            "address": {"type": "string", "pattern": r"^\S+:[0-9]{1,5}$"},
            "timeout": {"type": "number", "exclusiveMinimum": 0},
        },
        "additionalProperties": False,
    },
)
class ClamdScanner(VirusScanner):
    """ClamAV daemon over TCP (INSTREAM); options ``address`` host:port (TONGBAN_CLAMD, 127.0.0.1:3310) and
    ``timeout`` seconds (TONGBAN_CLAMD_TIMEOUT, 30). Only ``stream: OK`` is clean and only ``stream:
    <signature> FOUND`` is infected; anything else (``INSTREAM size limit exceeded. ERROR``, a reply we do
    not understand, no reply) raises ScannerError."""

    label = gettext_lazy("ClamAV 守护进程（clamd）")

    def __init__(self, *, address: str = "127.0.0.1:3310", timeout: float = 30) -> None:
        host, _sep, port = address.rpartition(":")
        self.host, self.port, self.timeout = host.strip("[]"), int(port), float(timeout)

    def infected(self, content: bytes) -> bool | None:
        return _clamd(content, self.host, self.port, self.timeout)

    def check_config(self) -> list[str]:
        """clamd answers PING with PONG."""
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout) as sock:
                sock.sendall(b"zPING\0")
                reply = _clamd_reply(sock)
        except OSError as exc:
            return [_("无法连接 clamd %(a)s：%(e)s") % {"a": f"{self.host}:{self.port}", "e": exc}]
        if reply != b"PONG":
            return [
                _("clamd %(a)s 的应答不是 PONG：%(r)s")
                % {"a": f"{self.host}:{self.port}", "r": reply[:80].decode("utf-8", "replace")}
            ]
        return []


def _clamd(content: bytes, host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            try:
                sock.sendall(b"zINSTREAM\0")
                for start in range(0, len(content), CLAMD_CHUNK):
                    chunk = content[start : start + CLAMD_CHUNK]
                    sock.sendall(struct.pack("!L", len(chunk)) + chunk)
                sock.sendall(struct.pack("!L", 0))
            except OSError as exc:
                # clamd answers a stream over its limit with an error and closes: read what it said.
                reply = _clamd_reply(sock)
                raise ScannerError(reply.decode("utf-8", "replace") or repr(exc)) from exc
            reply = _clamd_reply(sock)
    except OSError as exc:  # refused, reset, timed out
        raise ScannerError(f"clamd {host}:{port}: {exc!r}") from exc
    if reply == b"stream: OK":
        return False
    if reply.startswith(b"stream: ") and reply.endswith(b" FOUND") and len(reply) > len(b"stream:  FOUND"):
        return True
    raise ScannerError(reply.decode("utf-8", "replace")[:200] or "empty reply")


def virus_scanner() -> VirusScanner:
    """The configured virus scanner (``TONGBAN_PLUGINS["virus_scanner"]``)."""
    return virus_scanners.configured()


def scan(content: bytes, *, label: str = "") -> str:
    """The scan status; DocumentError when the scanner gives no verdict (logged for the operators)."""
    scanner = virus_scanner()
    try:
        infected = scanner.infected(content)
    except ScannerError as exc:
        log.error(
            "virus scanner %s gave no verdict on a %d-byte upload, refused: %s",
            type(scanner).__name__,
            len(content),
            exc,
        )
        raise DocumentError(
            _("“%(m)s”暂时无法完成病毒扫描，未被接收，请稍后重新上传。") % {"m": label or _("文件")}
        ) from None
    if infected is None:
        return CaseDocument.NOT_SCANNED
    return CaseDocument.INFECTED if infected else CaseDocument.CLEAN


def sniff(content: bytes) -> str | None:
    """The format the bytes really are (among the accepted ones), whatever the name says."""
    kind = filetype.guess(content)
    if kind is not None and kind.extension in ACCEPTED_FORMATS:
        return kind.extension
    if content[:2] == b"PK":  # OFD (GB/T 33190) is a zip with an OFD.xml entry
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as z:
                if "OFD.xml" in z.namelist():
                    return "ofd"
        except zipfile.BadZipFile:
            return None
    return None


def document_store(
    *,
    uploader: Any,
    upload: Any,
    material: Any = None,
    case: Any = None,
    client: Any = None,
    draft: Any = None,
) -> CaseDocument:
    """Check and store one upload. ``material`` (catalogue Material) gives the allowed formats and size."""
    name = os.path.basename(getattr(upload, "name", "") or "file")[:200]
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    allowed = set(material.formats if material is not None and material.formats else ACCEPTED_FORMATS)
    limit_mb = min(ABSOLUTE_MAX_MB, material.max_size_mb if material is not None else DEFAULT_MAX_MB)
    label = material.name if material is not None else name
    if extension == "jpeg":
        extension = "jpg"
    if extension not in allowed and not (extension == "jpg" and "jpeg" in allowed):
        raise DocumentError(
            _("“%(m)s”只接受 %(f)s 格式。") % {"m": label, "f": "、".join(sorted(allowed)).upper()}
        )
    if upload.size > limit_mb * 1024 * 1024:
        raise DocumentError(_("“%(m)s”不能超过 %(n)dMB。") % {"m": label, "n": limit_mb})
    content = upload.read(limit_mb * 1024 * 1024 + 1)
    if len(content) > limit_mb * 1024 * 1024:
        raise DocumentError(_("“%(m)s”不能超过 %(n)dMB。") % {"m": label, "n": limit_mb})
    if not content:
        raise DocumentError(_("“%(m)s”是空文件。") % {"m": label})
    actual = sniff(content)
    if actual is None or (actual != extension and {actual, extension} != {"jpg", "jpeg"}):
        raise DocumentError(
            _("“%(m)s”的内容与扩展名 .%(e)s 不符，请上传真实的文件。") % {"m": label, "e": extension}
        )
    status = scan(content, label=label)
    if status == CaseDocument.INFECTED:
        raise DocumentError(_("“%(m)s”未通过病毒扫描，已拒收。") % {"m": label})
    document = CaseDocument(
        case=case,
        draft=draft,
        uploaded_by=uploader,
        uploaded_by_client=client,
        material_code=getattr(material, "code", "") or "",
        original_name=name,
        size=len(content),
        content_type=MIME.get(actual, "application/octet-stream"),
        sha256=hashlib.sha256(content).hexdigest(),
        scan_status=status,
    )
    document.file.save("upload", ContentFile(content), save=False)
    document.save()
    return document
