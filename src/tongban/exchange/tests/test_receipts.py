"""The audit log tells no department whose data another one read (issue 15 #6).

The attack: any ``exchange.read`` client fetched every receipt, whole entries included, and their hashes
could be recomputed: ``"key": "fad18b31…"`` was the SHA-256 of an ID number, and the response hash the
SHA-256 of the masked answer. Now a client gets the entry of its own calls only (others: the leaf hash and
the proof, which is all a verifier needs), keys in entries are HMACs under the platform's pseudonym key,
and request and response hashes are keyed by a salt only the caller is given."""

import hashlib
import json

import pytest
from django.db import transaction
from django.test import Client

from tongban.core.canonical import canonical_json
from tongban.exchange import auditlog, pseudonyms
from tongban.exchange.models import LogEntry
from tongban.exchange.verify import check_receipt
from tongban.licences.services import key_directory
from tongban.testing import resident_number as number
from tongban.testing import token

from .conftest import BASE, get, grant_for

pytestmark = pytest.mark.django_db


def test_another_department_gets_the_proof_and_leaf_hash_of_a_receipt_not_the_entry(world):
    grant_for(world, world["health"], ["id_number", "name"])
    body = get(f"/gateway/person-basic/records/{number(1)}", world["health_token"]).json()
    auditlog.checkpoint_sign()
    path = body["receipt"]["proof"].removeprefix(BASE)
    own = get(path, world["health_token"])
    assert own.status_code == 200 and json.loads(own.json()["entry"])["client"]
    other = get(path, world["district_token"])  # 江城区民政局's system: another department
    assert other.status_code == 200
    bundle = other.json()
    assert set(bundle) == {"format", "index", "leaf_hash", "proof", "checkpoint"}
    assert bundle["leaf_hash"] == own.json()["leaf_hash"] and bundle["proof"] == own.json()["proof"]
    assert "ljs-wjw" not in other.content.decode()  # not even who read
    directory = key_directory()
    assert check_receipt(bundle, directory) == "" and check_receipt(own.json(), directory) == ""
    # Another client of the same department is not the caller either.
    colleague = token(world["health"], "exchange.read")
    assert "entry" not in get(path, colleague).json()


def test_hashes_in_the_receipt_are_keyed_by_the_callers_salt(world):
    grant_for(world, world["health"], ["id_number", "name"])
    body = get(f"/gateway/person-basic/records/{number(1)}", world["health_token"]).json()
    receipt = body["receipt"]
    entry = json.loads(LogEntry.objects.get(pk=receipt["log_index"] + 1).leaf)
    # A guess of the answer (here the right one) cannot be tested without the salt.
    assert entry["response"] != hashlib.sha256(canonical_json(body["records"])).hexdigest()
    assert entry["response"] == auditlog.digest(body["records"], receipt["salt"])
    assert receipt["salt"] not in LogEntry.objects.get(pk=receipt["log_index"] + 1).leaf
    again = get(f"/gateway/person-basic/records/{number(1)}", world["health_token"]).json()["receipt"]
    assert again["salt"] != receipt["salt"] and again["response_hash"] != receipt["response_hash"]


def test_keys_in_new_entries_are_keyed_hashes_and_readers_of_other_receipts_see_none(world):
    headers = {**token(world["health"], "registries.read")}
    read = Client().post(
        "/api/registries/data/population/1.0/read",
        {"query": {"content": {"id_number": number(1)}}},
        content_type="application/json",
        **headers,
    )
    assert read.status_code == 200, read.content
    entry = json.loads(LogEntry.objects.filter(kind="registry_read").last().leaf)
    assert "keys" not in entry and entry["keys_mac"] != hashlib.sha256(number(1).encode()).hexdigest()
    assert entry["keys_mac"] == pseudonyms.audit_hash(number(1))  # the data bureau can still find it
    auditlog.checkpoint_sign()
    mine = Client().get(read["Tongban-Receipt"], **headers)
    assert mine.status_code == 200 and json.loads(mine.json()["entry"])["kind"] == "registry_read"
    theirs = Client().get(read["Tongban-Receipt"], **world["district_token"])
    assert theirs.status_code == 200 and "entry" not in theirs.json()
    assert check_receipt(theirs.json(), key_directory()) == ""


def test_entries_written_before_stay_verifiable(world):
    """The log is append-only: an entry with the old unkeyed hash is never rewritten, and its receipt
    still verifies (for the data bureau with the entry, for others with the leaf hash)."""
    with transaction.atomic():
        old = auditlog.log_append(
            "staff_read", {"registry": "population", "key": hashlib.sha256(number(2).encode()).hexdigest()}
        )
    auditlog.checkpoint_sign()
    bundle = auditlog.receipt_bundle(old)
    assert check_receipt(bundle, key_directory()) == ""
    proof_only = get(f"/audit/receipts/{old}", world["health_token"]).json()
    assert "entry" not in proof_only and check_receipt(proof_only, key_directory()) == ""
