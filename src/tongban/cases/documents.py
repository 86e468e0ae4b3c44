"""Uploaded materials: size limits, content sniffing (the bytes must be what the name says), a pluggable
virus scanner, storage outside the web root. Refusals say in Chinese what is wrong."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import socket
import struct
import zipfile
from collections.abc import Callable
from typing import Any

import filetype
from django.core.files.base import ContentFile
from django.utils.translation import gettext as _

from tongban.catalog.constants import ACCEPTED_FORMATS, MAX_MATERIAL_MB

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

scanners: dict[str, Callable[[bytes], bool]] = {}


def scanner(name: str) -> Callable[[Callable[[bytes], bool]], Callable[[bytes], bool]]:
    """Register a virus scanner: a function that returns True when the content is infected."""

    def decorator(func: Callable[[bytes], bool]) -> Callable[[bytes], bool]:
        scanners[name] = func
        return func

    return decorator


EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@scanner("eicar")
def _eicar(content: bytes) -> bool:
    """Recognises the industry test signature only: proves the hook end to end without a scanning daemon."""
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


@scanner("clamd")
def _clamd(content: bytes) -> bool:
    """ClamAV daemon over TCP (INSTREAM); TONGBAN_CLAMD=host:port, TONGBAN_CLAMD_TIMEOUT seconds (30).
    Only ``stream: OK`` is clean and only ``stream: <signature> FOUND`` is infected; anything else
    (``INSTREAM size limit exceeded. ERROR``, a reply we do not understand, no reply) raises ScannerError."""
    host, _sep, port = os.environ.get("TONGBAN_CLAMD", "127.0.0.1:3310").rpartition(":")
    timeout = float(os.environ.get("TONGBAN_CLAMD_TIMEOUT", "30"))
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
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


def scan(content: bytes, *, label: str = "") -> str:
    """The scan status; DocumentError when the scanner gives no verdict (logged for the operators)."""
    name = os.environ.get("TONGBAN_VIRUS_SCANNER", "eicar")
    if name == "none":
        return CaseDocument.NOT_SCANNED
    try:
        infected = scanners[name](content)
    except ScannerError as exc:
        log.error(
            "virus scanner %s gave no verdict on a %d-byte upload, refused: %s", name, len(content), exc
        )
        raise DocumentError(
            _("“%(m)s”暂时无法完成病毒扫描，未被接收，请稍后重新上传。") % {"m": label or _("文件")}
        ) from None
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
