"""Checking a signed licence file, online (keys and statuses from the database) or offline (a public key
directory exported to a file). No database access here: the caller passes the directory and, online, a
status lookup.

A licence file is ``{"licence": {…GB/T 36903 metadata…}, "proof": {"type", "key_id", "signed_at",
"signature"}}``; the signature covers the RFC 8785 canonical JSON of the file without ``proof.signature``.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import zlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization as c_serialization
from django.utils.translation import gettext as _
from tongsuopy.crypto import hashes as t_hashes
from tongsuopy.crypto import serialization as t_serialization
from tongsuopy.crypto.asymciphers import ec
from tongsuopy.crypto.exceptions import InvalidSignature as TongsuoInvalidSignature

from tongban.core import codes

from .constants import FORMAT, Algorithm, LicenceStatus, Verdict

DIRECTORY_FORMAT = "tongban-seal-directory/1"
QR_PREFIX = "TBL1:"


def from_qr(text: str) -> dict[str, Any]:
    """The signed file from a scanned QR text (the link or just its payload); ValueError when it is not one."""
    payload = text.strip().rsplit("f=", 1)[-1]
    if not payload.startswith(QR_PREFIX):
        raise ValueError("not a Tongban licence QR code")
    raw = base64.urlsafe_b64decode(payload[len(QR_PREFIX) :].encode())
    return json.loads(zlib.decompressobj().decompress(raw, 64 * 1024))


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    algorithm: str
    public_key: str
    department_code: str
    department_name: str
    issuer_code: str
    valid_from: str
    retired_at: str | None = None
    revoked_at: str | None = None
    revocation_reason: str = ""


@dataclass
class KeyDirectory:
    """Which key was valid when: every seal key, current or retired or revoked, with its public key; and
    which departments may issue each licence type. Offline copies also carry the licence statuses known at
    export time."""

    keys: dict[str, KeyInfo]
    exported_at: str = ""
    statuses: dict[str, list[str]] = field(default_factory=dict)  # identifier -> [status, reason]
    # licence type code -> codes of the departments that may issue it; None in a directory exported before
    # issuers were named (such a directory cannot show a licence valid: export it again)
    type_issuers: dict[str, list[str]] | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": DIRECTORY_FORMAT,
                "exported_at": self.exported_at,
                "keys": [asdict(k) for k in self.keys.values()],
                "licence_statuses": self.statuses,
                "licence_type_issuers": self.type_issuers,
            },
            ensure_ascii=False,
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> KeyDirectory:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != DIRECTORY_FORMAT:
            raise ValueError(_("不是通办印章公钥目录文件（format 应为 %(f)s）。") % {"f": DIRECTORY_FORMAT})
        keys = {k["key_id"]: KeyInfo(**k) for k in data.get("keys", [])}
        issuers = data.get("licence_type_issuers")
        return cls(
            keys=keys,
            exported_at=data.get("exported_at", ""),
            statuses=data.get("licence_statuses", {}),
            type_issuers=issuers if isinstance(issuers, dict) else None,
        )


@dataclass
class Result:
    verdict: str
    reason: str
    licence: dict[str, Any] | None = None
    key: KeyInfo | None = None

    @property
    def valid(self) -> bool:
        return self.verdict == Verdict.VALID

    def as_dict(self) -> dict[str, Any]:
        licence = self.licence or {}
        return {
            "verdict": self.verdict,
            "valid": self.valid,
            "reason": self.reason,
            "identifier": licence.get("identifier"),
            "name": licence.get("name"),
            "issuer": (licence.get("issuer") or {}).get("name"),
            "key_id": self.key.key_id if self.key else None,
        }


def signing_input(document: Mapping[str, Any]) -> bytes:
    """The bytes the seal signs: the file, minus the signature itself, canonicalised (RFC 8785)."""
    proof = {k: v for k, v in document["proof"].items() if k != "signature"}
    return rfc8785.dumps({"licence": document["licence"], "proof": proof})


@functools.lru_cache(maxsize=1024)
def _public_key(algorithm: str, pem: str) -> Any:
    if algorithm == Algorithm.SM2:
        return t_serialization.load_pem_public_key(pem.encode())
    return c_serialization.load_pem_public_key(pem.encode())


def signature_ok(algorithm: str, public_pem: str, signature: bytes, data: bytes) -> bool:
    try:
        key = _public_key(algorithm, public_pem)
        if algorithm == Algorithm.SM2:
            key.verify(signature, data, ec.ECDSA(t_hashes.SM3()))
        else:
            key.verify(signature, data)
    except (InvalidSignature, TongsuoInvalidSignature, ValueError, TypeError):
        return False
    return True


def _time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


StatusLookup = Callable[[str], tuple[str, str] | None]


def verify_file(
    document: Any, directory: KeyDirectory, *, today: dt.date, status: StatusLookup | None = None
) -> Result:
    """The verdict on one licence file, with the reason in words. ``status`` (online) gives a licence's
    current status from the registry, None for an unknown licence; offline the directory's snapshot is
    used when it has one."""
    try:
        licence, proof = document["licence"], document["proof"]
        if not isinstance(licence, dict) or licence.get("format") != FORMAT:
            raise KeyError("format")
        key_id, signed_at_text = proof["key_id"], proof["signed_at"]
        signature = base64.b64decode(proof["signature"], validate=True)
        identifier = licence["identifier"]
        signed_at = _time(signed_at_text)
        data = signing_input(document)
    except (KeyError, TypeError, ValueError, AttributeError):
        return Result(Verdict.MALFORMED, _("这不是通办签发的电子证照文件，或文件不完整。"))
    try:
        parsed = codes.parse_licence_identifier(identifier)
    except codes.CodeError as exc:
        return Result(Verdict.BAD_IDENTIFIER, str(exc), licence)
    key = directory.keys.get(key_id)
    if key is None:
        return Result(
            Verdict.UNKNOWN_ISSUER, _("签章所用的印章密钥 %(k)s 不在公钥目录中。") % {"k": key_id}, licence
        )
    issuer_code = (licence.get("issuer") or {}).get("code")
    if key.issuer_code != issuer_code or parsed.issuer_code != issuer_code:
        return Result(
            Verdict.UNKNOWN_ISSUER,
            _("印章属于%(d)s，与证照上的颁发机构不符。") % {"d": key.department_name},
            licence,
            key,
        )
    if proof.get("type") != key.algorithm or not signature_ok(key.algorithm, key.public_key, signature, data):
        return Result(Verdict.TAMPERED, _("签名与内容不符：文件在签章后被改动过。"), licence, key)
    if key.revoked_at:
        return Result(
            Verdict.KEY_REVOKED,
            _("印章密钥已于 %(t)s 吊销（%(r)s），其签章不再有效。")
            % {"t": key.revoked_at[:10], "r": key.revocation_reason or _("未说明")},
            licence,
            key,
        )
    if signed_at < _time(key.valid_from) or (key.retired_at and signed_at > _time(key.retired_at)):
        return Result(Verdict.KEY_NOT_VALID, _("签章时间不在该印章密钥的有效期内。"), licence, key)
    refused = _not_authorised(licence, parsed.type_code, key, directory)
    if refused:
        return Result(Verdict.NOT_AUTHORISED, refused, licence, key)
    current = status(identifier) if status is not None else _snapshot(directory, identifier)
    if status is not None and current is None:
        return Result(Verdict.UNKNOWN_LICENCE, _("签名有效，但证照库中查不到这份证照。"), licence, key)
    if current is not None and current[0] != LicenceStatus.VALID:
        verdict = {
            LicenceStatus.REVOKED: Verdict.REVOKED,
            LicenceStatus.SUSPENDED: Verdict.SUSPENDED,
            LicenceStatus.SUPERSEDED: Verdict.SUPERSEDED,
        }.get(current[0], Verdict.REVOKED)
        return Result(
            verdict,
            _("证照状态：%(s)s。%(r)s") % {"s": Verdict(verdict).label, "r": current[1]},
            licence,
            key,
        )
    valid_to = licence.get("valid_to")
    if valid_to and dt.date.fromisoformat(valid_to) < today:
        return Result(Verdict.EXPIRED, _("证照有效期至 %(d)s，已过期。") % {"d": valid_to}, licence, key)
    if status is None and not directory.statuses:
        reason = _("签章有效（离线核验：注销、暂停状态请以在线核验为准）。")
    else:
        reason = _("签章有效，证照状态正常。")
    return Result(Verdict.VALID, reason, licence, key)


def _not_authorised(licence: Mapping[str, Any], type_code: str, key: KeyInfo, directory: KeyDirectory) -> str:
    """Why the seal's department may not issue this licence's type; empty when it may."""
    if directory.type_issuers is None:
        return _("公钥目录中没有各类证照的颁发机构，无法确认签章部门有权颁发此类证照（请重新导出公钥目录）。")
    kind = licence.get("type") or {}
    name = kind.get("name") if isinstance(kind, dict) else None
    if not isinstance(kind, dict) or kind.get("code") != type_code:
        return _("证照上的证照类型与证照标识不符。")
    if key.department_code not in directory.type_issuers.get(type_code, ()):
        return _("印章属于%(d)s，该部门无权颁发“%(t)s”，这份证照无效。") % {
            "d": key.department_name,
            "t": name or type_code,
        }
    return ""


def _snapshot(directory: KeyDirectory, identifier: str) -> tuple[str, str] | None:
    entry = directory.statuses.get(identifier)
    return (entry[0], entry[1]) if entry else None
