"""Issuing, signing and verifying licences; tampering, keys rotated, revoked or not yet valid."""

import base64
import copy
import datetime as dt
import json

import pytest
from django.utils import timezone

from tongban.core.models import AuditEvent
from tongban.identity.tests.factories import DepartmentFactory
from tongban.licences import services
from tongban.licences.constants import Algorithm, LicenceStatus, Verdict
from tongban.licences.models import Licence, LicenceUse, SealKey
from tongban.licences.verify import KeyDirectory, from_qr, verify_file

pytestmark = pytest.mark.django_db


def check(document):
    return services.licence_verify(document).verdict


def test_issued_licence_verifies_and_is_stored_signed(issued, citizen):
    assert issued.identifier.startswith("1.2.156.3005.2.110000000000000000008.")
    assert issued.holder_code == citizen.person.id_number and issued.status == LicenceStatus.VALID
    assert issued.document["proof"]["type"] == Algorithm.SM2  # the default seal algorithm
    result = services.licence_verify(issued.document)
    assert result.verdict == Verdict.VALID and "状态正常" in result.reason
    assert LicenceUse.objects.filter(licence=issued, kind=LicenceUse.VERIFIED).count() == 1
    assert AuditEvent.objects.filter(event_type="licence_issued", target_id=str(issued.pk)).exists()
    # The private key is stored encrypted: no PEM header, and the handle does not contain the DER key.
    key = issued.seal_key
    assert b"PRIVATE KEY" not in bytes(key.private_key) and key.key_store == "encrypted-db"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("licence", "holder", "name"), "王五"),
        (("licence", "face", "partner_name"), "李四 "),
        (("licence", "valid_to"), "2099-12-31"),
        (("proof", "signed_at"), "2020-01-01T00:00:00+00:00"),
    ],
)
def test_any_change_is_tampering(issued, path, value):
    forged = copy.deepcopy(issued.document)
    target = forged
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    result = services.licence_verify(forged)
    assert result.verdict == Verdict.TAMPERED and "被改动" in result.reason


def test_one_flipped_byte_in_the_file_or_signature(issued):
    text = json.dumps(issued.document, ensure_ascii=False)
    flipped = text.replace(issued.holder_name, issued.holder_name[:-1] + "乙", 1)
    assert check(json.loads(flipped)) == Verdict.TAMPERED
    raw = bytearray(base64.b64decode(issued.document["proof"]["signature"]))
    raw[10] ^= 0x01
    forged = copy.deepcopy(issued.document)
    forged["proof"]["signature"] = base64.b64encode(bytes(raw)).decode()
    assert check(forged) == Verdict.TAMPERED


def test_malformed_unknown_issuer_and_bad_identifier(issued):
    assert check({"hello": "world"}) == Verdict.MALFORMED
    assert check("not even an object") == Verdict.MALFORMED
    unknown = copy.deepcopy(issued.document)
    unknown["proof"]["key_id"] = "someone-else-123"
    assert services.licence_verify(unknown).verdict == Verdict.UNKNOWN_ISSUER
    bad = copy.deepcopy(issued.document)
    identifier = bad["licence"]["identifier"]
    bad["licence"]["identifier"] = identifier[:-1] + ("0" if identifier[-1] != "0" else "1")
    result = services.licence_verify(bad)
    assert result.verdict == Verdict.BAD_IDENTIFIER and "校验位" in result.reason


def test_a_seal_of_another_department_is_an_unknown_issuer(issued, person_type):
    other = DepartmentFactory()
    key = services.seal_key_create(acting_user=None, department=other)
    forged = copy.deepcopy(issued.document)
    forged["proof"] = {"type": key.algorithm, "key_id": key.key_id, "signed_at": timezone.now().isoformat()}
    from tongban.licences.keystore import key_store
    from tongban.licences.verify import signing_input

    signature = key_store().sign(key.algorithm, bytes(key.private_key), signing_input(forged))
    forged["proof"]["signature"] = base64.b64encode(signature).decode()
    result = services.licence_verify(forged)
    assert result.verdict == Verdict.UNKNOWN_ISSUER and other.name in result.reason


def test_ed25519_seal_signs_and_verifies(person_type, citizen, market):
    services.seal_key_rotate(acting_user=None, department=market, algorithm=Algorithm.ED25519)
    SealKey.objects.filter(department=market, algorithm=Algorithm.SM2).update(retired_at=timezone.now())
    licence = services.licence_issue(
        acting_user=None,
        licence_type=person_type,
        holder_name=citizen.person.name,
        holder_code=citizen.person.id_number,
        face={"partner_name": "李四"},
    )
    assert licence.document["proof"]["type"] == Algorithm.ED25519
    assert check(licence.document) == Verdict.VALID
    forged = copy.deepcopy(licence.document)
    forged["licence"]["number"] += "1"
    assert check(forged) == Verdict.TAMPERED


def test_rotation_keeps_old_licences_valid(issued, market, person_type, citizen):
    old_key = issued.seal_key
    new_key = services.seal_key_rotate(acting_user=None, department=market)
    old_key.refresh_from_db()
    assert old_key.retired_at is not None and new_key.retired_at is None
    assert check(issued.document) == Verdict.VALID  # signed before the rotation
    later = services.licence_issue(
        acting_user=None,
        licence_type=person_type,
        holder_name=citizen.person.name,
        holder_code=citizen.person.id_number,
        face={"partner_name": "赵六"},
    )
    assert later.seal_key == new_key and check(later.document) == Verdict.VALID
    # A signature dated after the old key stopped signing is refused (a stolen retired key).
    directory = services.key_directory()
    late = copy.deepcopy(issued.document)
    late["proof"]["signed_at"] = (timezone.now() + dt.timedelta(days=1)).isoformat()
    from tongban.licences.keystore import key_store
    from tongban.licences.verify import signing_input

    late["proof"]["signature"] = base64.b64encode(
        key_store().sign(old_key.algorithm, bytes(old_key.private_key), signing_input(late))
    ).decode()
    result = verify_file(late, directory, today=timezone.localdate())
    assert result.verdict == Verdict.KEY_NOT_VALID


def test_not_yet_valid_key_is_refused(issued):
    SealKey.objects.filter(pk=issued.seal_key.pk).update(valid_from=timezone.now() + dt.timedelta(days=1))
    assert check(issued.document) == Verdict.KEY_NOT_VALID


def test_revoked_key_invalidates_its_signatures_and_licences_are_signed_again(issued, market):
    old_document = copy.deepcopy(issued.document)
    resigned = services.seal_key_revoke(acting_user=None, key=issued.seal_key, reason="私钥疑似泄露")
    assert resigned == 1
    result = services.licence_verify(old_document)
    assert result.verdict == Verdict.KEY_REVOKED and "私钥疑似泄露" in result.reason
    issued.refresh_from_db()
    assert issued.seal_key.revoked_at is None and check(issued.document) == Verdict.VALID
    with pytest.raises(services.LicenceError):
        services.seal_key_revoke(
            acting_user=None, key=SealKey.objects.get(pk=old_document_key(old_document)), reason="x"
        )


def old_document_key(document):
    return SealKey.objects.get(key_id=document["proof"]["key_id"]).pk


def test_status_changes_expiry_and_versions(issued):
    services.licence_set_status(
        acting_user=None, licence=issued, status=LicenceStatus.SUSPENDED, reason="核查中"
    )
    result = services.licence_verify(issued.document)
    assert result.verdict == Verdict.SUSPENDED and "核查中" in result.reason
    with pytest.raises(services.LicenceError):
        services.licence_set_status(
            acting_user=None, licence=issued, status=LicenceStatus.SUSPENDED, reason="x"
        )
    services.licence_set_status(
        acting_user=None, licence=issued, status=LicenceStatus.VALID, reason="核查无误"
    )
    changed = services.licence_change(
        acting_user=None, licence=issued, face={"partner_name": "李四（更正）"}, reason="更正姓名"
    )
    assert changed.version == 2 and changed.previous == issued
    assert changed.document["licence"]["related"] == issued.identifier
    assert changed.identifier.split(".")[-3] == issued.identifier.split(".")[-3]  # same serial
    assert check(issued.document) == Verdict.SUPERSEDED and check(changed.document) == Verdict.VALID
    services.licence_set_status(
        acting_user=None, licence=changed, status=LicenceStatus.REVOKED, reason="撤销登记"
    )
    assert check(changed.document) == Verdict.REVOKED
    with pytest.raises(services.LicenceError):
        services.licence_set_status(acting_user=None, licence=changed, status=LicenceStatus.VALID, reason="x")


def test_expired_licence(person_type, citizen):
    person_type.validity_years = 1
    person_type.save()
    licence = services.licence_issue(
        acting_user=None,
        licence_type=person_type,
        holder_name=citizen.person.name,
        holder_code=citizen.person.id_number,
        face={"partner_name": "李四"},
        valid_from=dt.date(2020, 1, 1),
    )
    result = services.licence_verify(licence.document)
    assert result.verdict == Verdict.EXPIRED and "2020-12-31" in result.reason


def test_bad_holder_or_face_is_refused_and_nothing_saved(person_type, citizen):
    with pytest.raises(services.LicenceError) as err:
        services.licence_issue(
            acting_user=None,
            licence_type=person_type,
            holder_name="x",
            holder_code="110101199003070000",
            face={},
        )
    assert "holder_code" in err.value.problems
    with pytest.raises(services.LicenceError) as err:
        services.licence_issue(
            acting_user=None,
            licence_type=person_type,
            holder_name="x",
            holder_code=citizen.person.id_number,
            face={"partner_name": 5},
        )
    assert "partner_name" in err.value.problems
    assert not Licence.objects.exists()


def test_offline_directory_round_trip(issued):
    services.licence_set_status(
        acting_user=None, licence=issued, status=LicenceStatus.SUSPENDED, reason="核查中"
    )
    directory = KeyDirectory.from_json(services.key_directory(with_statuses=True).to_json())
    assert verify_file(issued.document, directory, today=timezone.localdate()).verdict == Verdict.SUSPENDED
    bare = KeyDirectory.from_json(services.key_directory().to_json())
    result = verify_file(issued.document, bare, today=timezone.localdate())
    assert result.verdict == Verdict.VALID and "离线" in result.reason
    with pytest.raises(ValueError):
        KeyDirectory.from_json('{"format": "other"}')


def test_staff_need_the_permission(person_type, citizen, market):
    from tongban.identity.tests.factories import ROLE, StaffFactory

    clerk = StaffFactory(roles=[(market, ROLE.INTAKE_CLERK)])
    approver = StaffFactory(roles=[(market, ROLE.APPROVER)])
    args = {
        "licence_type": person_type,
        "holder_name": citizen.person.name,
        "holder_code": citizen.person.id_number,
        "face": {"partner_name": "李四"},
    }
    from tongban.identity.errors import NotPermitted

    with pytest.raises(NotPermitted):
        services.licence_issue(acting_user=clerk, **args)
    assert services.licence_issue(acting_user=approver, **args).issuer == market


def test_pdf_qr_and_verifiable_credential(issued):
    from tongban.licences import formats

    pdf = formats.render_pdf(issued, "https://zwfw.example.gov.cn")
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000
    text = formats.qr_text(issued, "https://zwfw.example.gov.cn")
    assert text.startswith("https://zwfw.example.gov.cn/licences/verify/?f=TBL1:")
    assert from_qr(text) == issued.document  # the QR alone verifies offline
    assert check(from_qr(text)) == Verdict.VALID
    with pytest.raises(ValueError):
        from_qr("https://example.com/?f=XYZ")
    credential = services.verifiable_credential(issued)
    assert credential["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    assert credential["credentialSubject"]["licence"]["identifier"] == issued.identifier
    assert formats.verify_credential(credential)
    forged = copy.deepcopy(credential)
    forged["credentialSubject"]["name"] = "王五"
    assert not formats.verify_credential(forged)


def test_offline_command_line_verifier(issued, tmp_path):
    import os
    import subprocess
    import sys

    from tongban.licences import formats

    directory = tmp_path / "keys.json"
    directory.write_text(services.key_directory().to_json(), encoding="utf-8")
    good = tmp_path / "licence.json"
    good.write_text(json.dumps(issued.document, ensure_ascii=False), encoding="utf-8")
    forged = copy.deepcopy(issued.document)
    forged["licence"]["face"]["partner_name"] = "王五"
    bad = tmp_path / "forged.json"
    bad.write_text(json.dumps(forged, ensure_ascii=False), encoding="utf-8")
    qr = tmp_path / "qr.txt"
    qr.write_text(formats.qr_text(issued, "https://zwfw.example.gov.cn"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "TONGBAN_"))}

    def run(path):
        command = [
            sys.executable,
            "-m",
            "tongban.cli",
            "licence",
            "verify",
            str(path),
            "--directory",
            str(directory),
        ]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)

    ok = run(good)
    assert ok.returncode == 0 and "有效 (valid)" in ok.stdout and issued.number in ok.stdout, ok.stderr
    assert run(qr).returncode == 0
    tampered = run(bad)
    assert tampered.returncode == 1 and "tampered" in tampered.stdout
    assert run(tmp_path / "missing.json").returncode == 2


def test_rotation_with_overlap_lets_the_old_key_finish(issued, market):
    old_key = issued.seal_key
    new_key = services.seal_key_rotate(acting_user=None, department=market, overlap=dt.timedelta(hours=1))
    old_key.refresh_from_db()
    assert old_key.retired_at > timezone.now()  # may still sign during the overlap
    assert services._signing_key(market, old_key.algorithm) == new_key  # but the new key is preferred
    late = copy.deepcopy(issued.document)
    late["licence"]["number"] = issued.number  # re-signed by the old key within the overlap
    from tongban.licences.keystore import key_store
    from tongban.licences.verify import signing_input

    late["proof"]["signed_at"] = (timezone.now() + dt.timedelta(minutes=30)).isoformat()
    late["proof"]["signature"] = base64.b64encode(
        key_store().sign(old_key.algorithm, bytes(old_key.private_key), signing_input(late))
    ).decode()
    assert verify_file(late, services.key_directory(), today=timezone.localdate()).verdict == Verdict.VALID


def test_the_key_encryption_key_comes_from_the_key_store_options():
    from cryptography.exceptions import InvalidTag
    from django.core.exceptions import ImproperlyConfigured

    from tongban.licences.keystore import key_stores

    first = key_stores.get("encrypted-db", {"kek": base64.b64encode(b"k" * 16).decode()})
    other = key_stores.get("encrypted-db", {"kek": base64.b64encode(b"o" * 16).decode()})
    _public, handle = first.generate(Algorithm.ED25519)
    assert first.sign(Algorithm.ED25519, handle, b"x") and first.check_config() == []
    with pytest.raises(InvalidTag):  # another key encryption key opens nothing
        other.sign(Algorithm.ED25519, handle, b"x")
    short = key_stores.get("encrypted-db", {"kek": "c2hvcnQ="})
    assert short.check_config() == ["TONGBAN_SEAL_KEK 必须是 16 字节（SM4 密钥）的 base64 编码。"]
    with pytest.raises(ImproperlyConfigured, match="TONGBAN_SEAL_KEK must be base64 of 16 bytes"):
        short.generate(Algorithm.ED25519)
