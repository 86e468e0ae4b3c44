"""Offline checks of the audit log's artefacts: a signed checkpoint, a receipt (an entry with its
inclusion proof under a checkpoint) and a consistency proof between two checkpoints. Pure: the caller
passes the seal public key directory; no database, no settings beyond i18n. Each check returns "" when
the artefact holds, else the reason in words."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

from tongban.core import merkle
from tongban.licences.verify import KeyDirectory, _time, signature_ok

CHECKPOINT_FORMAT = "tongban-audit-checkpoint/1"
RECEIPT_FORMAT = "tongban-audit-receipt/1"
CONSISTENCY_FORMAT = "tongban-audit-consistency/1"


def _hashes(values: Any) -> list[bytes]:
    out = [base64.b64decode(v, validate=True) for v in values]
    if any(len(h) != 32 for h in out):
        raise ValueError("hash length")
    return out


def check_checkpoint(data: Mapping[str, Any], directory: KeyDirectory, *, operator: str = "") -> str:
    """The checkpoint's note says what its fields say, and the named seal key signed it while valid."""
    try:
        if data.get("format") != CHECKPOINT_FORMAT:
            raise KeyError("format")
        size, root_hash = int(data["tree_size"]), _hashes([data["root_hash"]])[0]
        signed_at = _time(data["signed_at"])
        note = data["note"]
        signature = base64.b64decode(data["signature"], validate=True)
        lines = note.split("\n")
    except (KeyError, TypeError, ValueError, binascii.Error):
        return _("不是完整的审计日志检查点。")
    if lines[1:4] != [str(size), base64.b64encode(root_hash).decode(), data["signed_at"]]:
        return _("检查点正文与其字段不一致。")
    key = directory.keys.get(data.get("key_id", ""))
    if key is None:
        return _("签名密钥 %(k)s 不在公钥目录中。") % {"k": data.get("key_id", "")}
    if operator and key.department_code != operator:
        return _("检查点由%(d)s签名，不是平台运营部门。") % {"d": key.department_name}
    if data.get("algorithm") != key.algorithm or not signature_ok(
        key.algorithm, key.public_key, signature, note.encode()
    ):
        return _("检查点签名无效：内容被改动或签名伪造。")
    if key.revoked_at:
        return _("签名密钥已吊销（%(r)s）。") % {"r": key.revocation_reason or _("未说明")}
    if signed_at < _time(key.valid_from) or (key.retired_at and signed_at > _time(key.retired_at)):
        return _("签名时间不在该密钥的有效期内。")
    return ""


def check_receipt(bundle: Mapping[str, Any], directory: KeyDirectory, *, operator: str = "") -> str:
    """The entry, hashed as an RFC 9162 leaf, is at its index in the tree of a valid signed checkpoint. A
    receipt of another department's call carries the leaf hash without the entry, and is checked the same
    way; one with both must have the entry hash to the leaf."""
    try:
        if bundle.get("format") != RECEIPT_FORMAT:
            raise KeyError("format")
        index = int(bundle["index"])
        # Another department's entry comes as its leaf hash only: the proof needs nothing more.
        given = _hashes([bundle["leaf_hash"]])[0] if "leaf_hash" in bundle else None
        entry = bundle.get("entry")
        if entry is None and given is None:
            raise KeyError("entry")
        proof = _hashes(bundle["proof"])
        checkpoint = bundle["checkpoint"]
        size, root_hash = int(checkpoint["tree_size"]), _hashes([checkpoint["root_hash"]])[0]
    except (KeyError, TypeError, ValueError, binascii.Error):
        return _("不是完整的审计回执。")
    problem = check_checkpoint(checkpoint, directory, operator=operator)
    if problem:
        return problem
    leaf = merkle.leaf_hash(str(entry).encode()) if entry is not None else given
    if given is not None and leaf != given:
        return _("回执中的记录与其叶哈希不一致：记录被改动。")
    if not merkle.verify_inclusion(leaf, index, size, proof, root_hash):
        return _("包含证明不成立：该记录不在检查点的日志中，或记录被改动。")
    return ""


def check_consistency(bundle: Mapping[str, Any], directory: KeyDirectory, *, operator: str = "") -> str:
    """Both checkpoints are valid and the older tree is a prefix of the newer (nothing rewritten)."""
    try:
        if bundle.get("format") != CONSISTENCY_FORMAT:
            raise KeyError("format")
        first, second = bundle["first"], bundle["second"]
        proof = _hashes(bundle["proof"])
        old_size, old_root = int(first["tree_size"]), _hashes([first["root_hash"]])[0]
        new_size, new_root = int(second["tree_size"]), _hashes([second["root_hash"]])[0]
    except (KeyError, TypeError, ValueError, binascii.Error):
        return _("不是完整的一致性证明。")
    for checkpoint in (first, second):
        problem = check_checkpoint(checkpoint, directory, operator=operator)
        if problem:
            return problem
    if not merkle.verify_consistency(old_size, new_size, proof, old_root, new_root):
        return _("一致性证明不成立：日志在两个检查点之间被改写。")
    return ""


def check_any(bundle: Mapping[str, Any], directory: KeyDirectory, *, operator: str = "") -> tuple[str, str]:
    """(what it is, problem) for any of the three artefacts, told apart by their format."""
    kind = bundle.get("format") if isinstance(bundle, Mapping) else None
    if kind == RECEIPT_FORMAT:
        return "receipt", check_receipt(bundle, directory, operator=operator)
    if kind == CONSISTENCY_FORMAT:
        return "consistency", check_consistency(bundle, directory, operator=operator)
    if kind == CHECKPOINT_FORMAT:
        return "checkpoint", check_checkpoint(bundle, directory, operator=operator)
    return "unknown", _("无法识别的文件：应为审计回执、检查点或一致性证明。")
