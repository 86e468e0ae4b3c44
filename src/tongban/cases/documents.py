"""Uploaded materials: size limits, content sniffing (the bytes must be what the name says), a pluggable
virus scanner, storage outside the web root. Refusals say in Chinese what is wrong."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import struct
import zipfile
from collections.abc import Callable
from typing import Any

import filetype
from django.core.files.base import ContentFile
from django.utils.translation import gettext as _

from tongban.catalog.constants import ACCEPTED_FORMATS

from .models import CaseDocument

DEFAULT_MAX_MB = 10
ABSOLUTE_MAX_MB = 50
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


@scanner("clamd")
def _clamd(content: bytes) -> bool:
    """ClamAV daemon over TCP (INSTREAM); TONGBAN_CLAMD=host:port."""
    host, _sep, port = os.environ.get("TONGBAN_CLAMD", "127.0.0.1:3310").partition(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"zINSTREAM\0")
        for start in range(0, len(content), 65536):
            chunk = content[start : start + 65536]
            sock.sendall(struct.pack("!L", len(chunk)) + chunk)
        sock.sendall(struct.pack("!L", 0))
        reply = sock.recv(4096)
    return b"FOUND" in reply


def scan(content: bytes) -> str:
    name = os.environ.get("TONGBAN_VIRUS_SCANNER", "eicar")
    if name == "none":
        return CaseDocument.NOT_SCANNED
    return CaseDocument.INFECTED if scanners[name](content) else CaseDocument.CLEAN


class DocumentError(ValueError):
    pass


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
    status = scan(content)
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
