"""A licence in its other forms: the QR code (enough to verify offline, and a link to the online check), a
PDF with Chinese fonts, the seal and the QR, and a W3C Verifiable Credential (Data Model 2.0) secured with
a Data Integrity proof (cryptosuite eddsa-jcs-2022)."""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import threading
import zlib
from pathlib import Path
from typing import Any

import rfc8785
import segno
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.utils import timezone

from .constants import Algorithm
from .models import Licence, SealKey
from .verify import QR_PREFIX

NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
NOTO_SC_INDEX = 2  # Noto Sans CJK SC in Debian's collection


# ---- QR ------------------------------------------------------------------------------------------------


def qr_text(licence: Licence, base_url: str) -> str:
    """The verification link with the whole signed file inside (compressed): scanning opens the online
    check, and the text alone verifies offline (`tongban licence verify` accepts it)."""
    packed = zlib.compress(rfc8785.dumps(licence.document), 9)
    return f"{base_url.rstrip('/')}/licences/verify/?f={QR_PREFIX}{base64.urlsafe_b64encode(packed).decode()}"


def qr_svg(text: str, *, scale: int = 3) -> str:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="svg", scale=scale, border=2, xmldecl=False, svgns=True)
    return buffer.getvalue().decode()


# ---- PDF -----------------------------------------------------------------------------------------------

_font_lock = threading.Lock()


def _gb2312_chars() -> set[int]:
    chars = set(range(0x20, 0x7F)) | set(range(0x3000, 0x3040)) | set(range(0xFF00, 0xFF70))
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            char = bytes([high, low]).decode("gb2312", errors="ignore")
            if len(char) == 1:
                chars.add(ord(char))
    return chars


@functools.cache
def _subset_font() -> tuple[Path, frozenset[int]]:
    """Noto Sans CJK SC cut down to GB 2312 (7,600 characters, 1.5 MB), made once from Debian's
    fonts-noto-cjk into the data directory: loading the whole collection costs ~300 ms per PDF."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    chars = _gb2312_chars()
    target = Path(settings.DATA_DIR) / "fonts" / "noto-sans-sc-gb2312.otf"
    with _font_lock:
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            font = TTFont(str(NOTO_CJK), fontNumber=NOTO_SC_INDEX)
            options = subset.Options()
            options.layout_features, options.hinting, options.name_IDs = [], False, ["*"]
            subsetter = subset.Subsetter(options)
            subsetter.populate(unicodes=chars)
            subsetter.subset(font)
            partial = target.with_suffix(".tmp")
            font.save(str(partial))
            partial.replace(target)
    return target, frozenset(chars)


def prepare_fonts() -> bool:
    """Build the PDF font now rather than at the first download; False when fonts-noto-cjk is missing."""
    if not NOTO_CJK.exists():
        return False
    _subset_font()
    return True


def _seal_svg(name: str) -> str:
    """The department's round red seal (a drawing: the signature is what proves the licence)."""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="120" viewBox="0 0 120 120">'
        '<circle cx="60" cy="60" r="55" fill="none" stroke="#d40000" stroke-width="4"/>'
        '<polygon points="60,38 66,54 83,54 69,64 74,81 60,71 46,81 51,64 37,54 54,54" fill="#d40000"/>'
        "</svg>"
    )


class PdfUnavailable(RuntimeError):
    """The Chinese font is not installed (Debian package fonts-noto-cjk)."""


def render_pdf(licence: Licence, base_url: str) -> bytes:
    from fpdf import FPDF

    if not NOTO_CJK.exists():
        raise PdfUnavailable(str(NOTO_CJK))

    document = licence.document["licence"]
    lines = [
        ("证照名称", document["name"]),
        ("证照编号", document["number"]),
        ("持证主体", document["holder"]["name"]),
        ("持证主体代码", document["holder"]["code"]),
    ]
    properties = licence.licence_type.face_schema.get("properties", {})
    order = licence.licence_type.display_fields or list(document["face"])
    lines += [
        (properties.get(k, {}).get("title", k), str(document["face"][k]))
        for k in order
        if k in document["face"]
    ]
    lines += [
        ("颁发机构", document["issuer"]["name"]),
        ("颁证日期", document["issued_on"]),
        ("有效期", f"{document['valid_from']} 至 {document['valid_to'] or '长期'}"),
        ("证照标识", document["identifier"]),
    ]
    text = "".join(value for pair in lines for value in pair)
    font_path, covered = _subset_font()
    if any(ord(c) not in covered for c in text):
        font_path = NOTO_CJK  # a rare character: the whole collection (slower, still correct)
    pdf = FPDF(format="A4")
    pdf.set_title(f"{document['name']} {document['number']}")
    pdf.set_creator("Tongban")
    pdf.add_page()
    if font_path == NOTO_CJK:
        pdf.add_font("cjk", fname=str(font_path), collection_font_number=NOTO_SC_INDEX)
    else:
        pdf.add_font("cjk", fname=str(font_path))
    pdf.set_font("cjk", size=22)
    pdf.cell(0, 16, document["name"], align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    for label, value in lines[1:]:
        pdf.set_font("cjk", size=11)
        pdf.cell(38, 9, label)
        pdf.multi_cell(0, 9, value, new_x="LMARGIN", new_y="NEXT")
    pdf.image(io.BytesIO(_seal_svg(document["issuer"]["name"]).encode()), x=130, y=pdf.get_y() + 4, w=40)
    qr = io.BytesIO()
    segno.make(qr_text(licence, base_url), error="m").save(qr, kind="png", scale=2, border=2)
    pdf.image(qr, x=20, y=pdf.get_y() + 4, w=50)
    pdf.set_y(pdf.get_y() + 60)
    pdf.set_font("cjk", size=8)
    pdf.multi_cell(
        0,
        5,
        "扫描二维码可在线核验，或用 tongban licence verify 离线核验。签章："
        + licence.document["proof"]["key_id"],
    )
    return bytes(pdf.output())


# ---- W3C Verifiable Credential -------------------------------------------------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58btc(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, remainder = divmod(number, 58)
        out = _B58[remainder] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def from_base58btc(text: str) -> bytes:
    number = 0
    for char in text:
        number = number * 58 + _B58.index(char)
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def did_key(key: SealKey) -> str:
    """did:key of an Ed25519 seal key (multicodec ed25519-pub 0xed01, base58btc)."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    raw = load_pem_public_key(key.public_key.encode()).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return "did:key:z" + base58btc(b"\xed\x01" + raw)


def _hash_data(document: dict[str, Any], proof: dict[str, Any]) -> bytes:
    config = {k: v for k, v in proof.items() if k != "proofValue"}
    config["@context"] = document["@context"]
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    return hashlib.sha256(rfc8785.dumps(config)).digest() + hashlib.sha256(rfc8785.dumps(unsecured)).digest()


def verifiable_credential(licence: Licence, key: SealKey) -> dict[str, Any]:
    """The licence as a VC 2.0, signed with the issuer's Ed25519 seal key (eddsa-jcs-2022)."""
    from .keystore import key_store

    if key.algorithm != Algorithm.ED25519:
        raise ValueError("eddsa-jcs-2022 needs an Ed25519 key")
    did = did_key(key)
    source = licence.document["licence"]
    credential: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": f"urn:oid:{source['identifier']}",
        "type": ["VerifiableCredential", "ChineseElectronicLicence"],
        "issuer": {"id": did, "name": source["issuer"]["name"], "uscc": source["issuer"]["code"]},
        "validFrom": f"{source['valid_from']}T00:00:00+08:00",
        "credentialSubject": {
            "id": f"urn:{'uscc' if licence.holder_code_type == 'uscc' else 'gb11643'}:{source['holder']['code']}",
            "name": source["holder"]["name"],
            "licence": source,
        },
    }
    if source["valid_to"]:
        credential["validUntil"] = f"{source['valid_to']}T23:59:59+08:00"
    proof = {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-jcs-2022",
        "created": timezone.now().replace(microsecond=0).isoformat(),
        "verificationMethod": f"{did}#{did.removeprefix('did:key:')}",
        "proofPurpose": "assertionMethod",
    }
    signature = key_store().sign(key.algorithm, bytes(key.private_key), _hash_data(credential, proof))
    proof["proofValue"] = "z" + base58btc(signature)
    return {**credential, "proof": proof}


def verify_credential(credential: dict[str, Any]) -> bool:
    """Check an eddsa-jcs-2022 proof against the did:key in its verification method (no network)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        proof = credential["proof"]
        if proof.get("cryptosuite") != "eddsa-jcs-2022" or not proof["proofValue"].startswith("z"):
            return False
        multikey = from_base58btc(proof["verificationMethod"].split("#")[0].removeprefix("did:key:z"))
        if (
            multikey[:2] != b"\xed\x01"
            or credential["issuer"]["id"] != proof["verificationMethod"].split("#")[0]
        ):
            return False
        Ed25519PublicKey.from_public_bytes(multikey[2:]).verify(
            from_base58btc(proof["proofValue"][1:]), _hash_data(credential, proof)
        )
    except (KeyError, ValueError, TypeError, AttributeError, InvalidSignature):
        return False
    return True
