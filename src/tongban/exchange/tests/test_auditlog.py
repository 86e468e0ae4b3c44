"""The persistent Merkle audit log: stored tree against the RFC 9162 definition, proofs checked with the
RFC's verification algorithms, signed checkpoints, tamper detection, gap filling and crash safety."""

import base64
import json
import os
import subprocess
import sys

import pytest
from django.db import connection, transaction

from tongban.core import merkle
from tongban.exchange import auditlog
from tongban.exchange.models import Checkpoint, LogEntry, LogNode, LogState
from tongban.exchange.verify import check_checkpoint, check_consistency, check_receipt
from tongban.identity.tests.factories import DepartmentFactory
from tongban.licences.services import key_directory


@pytest.fixture
def operator(db, settings):
    return DepartmentFactory(
        code=settings.TONGBAN_EXCHANGE_OPERATOR, name="临江市数据局", short_name="市数据局"
    )


def _append(n, start=0):
    return auditlog.log_append_many(("test", {"n": start + i}) for i in range(n))


def _leaf_hashes():
    return [
        merkle.leaf_hash(t.encode()) for t in LogEntry.objects.order_by("pk").values_list("leaf", flat=True)
    ]


def _drop_append_only_triggers():
    """What someone with database access would do first: the verifier must still catch the change."""
    with connection.cursor() as cursor:
        for table in ("exchange_logentry", "exchange_lognode", "exchange_checkpoint"):
            if connection.vendor == "postgresql":
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def test_stored_tree_matches_the_rfc_definition_for_every_size_and_batching(db):
    sizes = [1, 2, 3, 15, 16, 17, 31, 255, 256, 257, 300, 4095, 4096, 4100]
    appended = 0
    for size in sizes:
        _append(size - appended, appended)
        appended = size
        assert auditlog.log_integrate() == size
        leaves = _leaf_hashes()
        assert auditlog.tree_root(size) == merkle.root_from_leaves(leaves)
    # Stored nodes: exactly the complete subtrees of 16 and 256 and 4096 leaves, with the right hashes.
    assert LogNode.objects.count() == 4100 // 16 + 4100 // 256 + 4100 // 4096
    leaves = _leaf_hashes()
    for index in (0, 1, 15, 16, 255, 256, 1000, 4095, 4096, 4099):
        proof = auditlog.inclusion(index, 4100)
        assert proof == merkle.inclusion_proof(index, 4100, merkle.subtree_from_leaves(leaves))
        assert merkle.verify_inclusion(leaves[index], index, 4100, proof, merkle.root_from_leaves(leaves))
    for old, new in [(1, 4100), (16, 17), (255, 4096), (300, 4099), (4100, 4100)]:
        proof = auditlog.consistency(old, new)
        assert merkle.verify_consistency(
            old, new, proof, merkle.root_from_leaves(leaves[:old]), merkle.root_from_leaves(leaves[:new])
        )
    with pytest.raises(auditlog.LogError):
        auditlog.inclusion(4100, 4100)


def test_every_leaf_of_a_small_log_has_a_valid_proof(db):
    _append(70)
    auditlog.log_integrate()
    leaves = _leaf_hashes()
    for size in range(1, 71, 7):
        root_hash = auditlog.tree_root(size)
        for index in range(size):
            assert merkle.verify_inclusion(
                leaves[index], index, size, auditlog.inclusion(index, size), root_hash
            )


def test_the_log_is_append_only_in_the_database(db):
    _append(3)
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        LogEntry.objects.filter(pk=1).update(leaf="{}")
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        LogEntry.objects.filter(pk=2).delete()


def test_checkpoint_receipt_and_consistency_verify_offline(operator):
    _append(20)
    first = auditlog.checkpoint_sign()
    assert first.tree_size == 20
    assert auditlog.checkpoint_sign() == first  # nothing new: no new checkpoint
    _append(25, 20)
    second = auditlog.checkpoint_sign()
    assert second.tree_size == 45
    directory = key_directory()
    assert check_checkpoint(auditlog.checkpoint_json(second), directory) == ""
    assert check_checkpoint(auditlog.checkpoint_json(second), directory, operator=operator.code) == ""
    receipt = auditlog.receipt_bundle(7)
    assert check_receipt(receipt, directory) == ""
    assert json.loads(receipt["entry"])["n"] == 7
    assert check_consistency(auditlog.consistency_bundle(20, 45), directory) == ""

    forged_entry = {**receipt, "entry": receipt["entry"].replace('"n":7', '"n":8')}
    assert "记录被改动" in check_receipt(forged_entry, directory)
    forged_alone = {k: v for k, v in forged_entry.items() if k != "leaf_hash"}
    assert "包含证明不成立" in check_receipt(forged_alone, directory)
    # Another department's receipt: the leaf hash and the proof, no entry (issue 15 #6). It verifies.
    proof_only = {k: v for k, v in receipt.items() if k != "entry"}
    assert check_receipt(proof_only, directory) == ""
    wrong_leaf = {**proof_only, "leaf_hash": base64.b64encode(b"\2" * 32).decode()}
    assert "包含证明不成立" in check_receipt(wrong_leaf, directory)
    neither = {k: v for k, v in proof_only.items() if k != "leaf_hash"}
    assert check_receipt(neither, directory) == "不是完整的审计回执。"
    moved = {**receipt, "index": 8}
    assert check_receipt(moved, directory) != ""
    forged_root = json.loads(json.dumps(receipt))
    forged_root["checkpoint"]["root_hash"] = base64.b64encode(b"\1" * 32).decode()
    assert "不一致" in check_receipt(forged_root, directory)
    resigned = json.loads(json.dumps(receipt))  # consistent fields, but the signature is the old one
    resigned["checkpoint"]["root_hash"] = base64.b64encode(b"\1" * 32).decode()
    resigned["checkpoint"]["note"] = auditlog.checkpoint_note(45, b"\1" * 32, second.signed_at)
    assert "签名无效" in check_receipt(resigned, directory)
    other = DepartmentFactory()
    assert "不是平台运营部门" in check_checkpoint(
        auditlog.checkpoint_json(second), directory, operator=other.code
    )
    with pytest.raises(auditlog.LogError):
        auditlog.receipt_bundle(45)  # not in a checkpoint yet


def test_the_checker_finds_altered_deleted_and_inserted_rows(operator):
    _append(40)
    auditlog.checkpoint_sign()
    assert auditlog.log_check().ok
    _drop_append_only_triggers()

    LogEntry.objects.filter(pk=5).update(leaf=LogEntry.objects.get(pk=5).leaf.replace('"n":4', '"n":99'))
    result = auditlog.log_check()
    assert not result.ok and any("node level 4 index 0" in p for p in result.problems)
    assert any("checkpoint 40" in p for p in result.problems)
    # The receipt a client would now be handed does not verify against the signed checkpoint.
    assert "包含证明不成立" in check_receipt(auditlog.receipt_bundle(4), key_directory())


def test_the_checker_reads_in_chunks_and_checks_checkpoints_ending_mid_block(operator):
    for count in (7, 30, 33, 300):  # checkpoints ending inside a 16-leaf block and on a boundary
        _append(count - auditlog.tree_size())
        auditlog.checkpoint_sign()
    assert auditlog.log_check(chunk=32).ok
    _drop_append_only_triggers()
    LogEntry.objects.filter(pk=3).update(leaf=LogEntry.objects.get(pk=3).leaf.replace('"n":2', '"n":-2'))
    problems = auditlog.log_check(chunk=32).problems
    assert any("node level 4 index 0" in p for p in problems)
    assert {p.split(":")[0] for p in problems if p.startswith("checkpoint")} == {
        "checkpoint 7",
        "checkpoint 30",
        "checkpoint 33",
        "checkpoint 300",
    }


def test_the_checker_finds_a_deleted_row_and_a_rewritten_checkpoint(operator):
    _append(40)
    checkpoint = auditlog.checkpoint_sign()
    _drop_append_only_triggers()
    LogEntry.objects.filter(pk=33).delete()
    result = auditlog.log_check()
    assert any("32..32 are missing" in p for p in result.problems)
    with pytest.raises(auditlog.LogError):
        auditlog.receipt_bundle(32)

    Checkpoint.objects.filter(pk=checkpoint.pk).update(tree_size=39)
    assert any("checkpoint 39" in p for p in auditlog.log_check().problems)


def test_a_hole_from_a_rolled_back_append_is_filled_never_reused(db, monkeypatch):
    _append(3)
    with pytest.raises(RuntimeError), transaction.atomic():
        auditlog.log_append("test", {"n": "rolled back"})
        raise RuntimeError
    _append(2, 10)
    monkeypatch.setattr(auditlog, "GAP_SECONDS", 0)
    size = auditlog.log_integrate()
    kinds = list(LogEntry.objects.order_by("pk").values_list("kind", flat=True))
    assert size == len(kinds) and LogState.objects.get().size == size
    if connection.vendor == "postgresql":  # the identity value was used up: filled, not reused
        assert kinds == ["test"] * 3 + ["gap"] + ["test"] * 2
    else:  # SQLite hands the value out again, so there is no hole
        assert kinds == ["test"] * 5
    assert auditlog.tree_root(size) == merkle.root_from_leaves(_leaf_hashes())


def test_a_crash_during_integration_changes_nothing(db, monkeypatch):
    _append(40)
    auditlog.log_integrate()
    root_before = auditlog.tree_root(40)
    _append(30, 40)

    def crash(*args, **kwargs):
        raise OSError("disk gone")

    monkeypatch.setattr(LogNode.objects, "bulk_create", crash)
    with pytest.raises(OSError):
        auditlog.log_integrate()
    monkeypatch.undo()
    assert auditlog.tree_size() == 40 and auditlog.tree_root(40) == root_before
    assert auditlog.log_integrate() == 70
    assert auditlog.tree_root(70) == merkle.root_from_leaves(_leaf_hashes())
    assert merkle.verify_consistency(
        40, 70, auditlog.consistency(40, 70), root_before, auditlog.tree_root(70)
    )


def test_command_line_verifier(operator, tmp_path, settings):
    _append(10)
    auditlog.checkpoint_sign()
    _append(5, 10)
    auditlog.checkpoint_sign()
    (tmp_path / "keys.json").write_text(key_directory().to_json(), encoding="utf-8")
    (tmp_path / "receipt.json").write_text(json.dumps(auditlog.receipt_bundle(3)), encoding="utf-8")
    (tmp_path / "consistency.json").write_text(
        json.dumps(auditlog.consistency_bundle(10, 15)), encoding="utf-8"
    )
    forged = auditlog.receipt_bundle(3)
    forged["entry"] = forged["entry"].replace('"n":3', '"n":4')
    (tmp_path / "forged.json").write_text(json.dumps(forged), encoding="utf-8")
    proof_only = {k: v for k, v in auditlog.receipt_bundle(3).items() if k != "entry"}
    (tmp_path / "proof-only.json").write_text(json.dumps(proof_only), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "TONGBAN_"))}

    def run(name, *extra):
        command = [sys.executable, "-m", "tongban.cli", "audit", "verify", str(tmp_path / name)]
        command += ["--directory", str(tmp_path / "keys.json"), *extra]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)

    ok = run("receipt.json", "--operator", settings.TONGBAN_EXCHANGE_OPERATOR)
    assert ok.returncode == 0 and "有效 (receipt)" in ok.stdout and "市数据局" not in ok.stderr, ok.stderr
    assert run("consistency.json").returncode == 0
    assert run("proof-only.json").returncode == 0  # another department's receipt verifies offline too
    bad = run("forged.json")
    assert bad.returncode == 1 and "记录被改动" in bad.stdout
    assert run("missing.json").returncode == 2
