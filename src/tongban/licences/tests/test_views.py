"""Licence pages and API: public verification, the wallet (show, share, uses), the staff desk."""

import copy
import datetime as dt
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from tongban.identity.tests.factories import ROLE, StaffFactory, UserFactory
from tongban.licences import formats, services
from tongban.licences.constants import LicenceStatus
from tongban.licences.models import LicenceShare, LicenceUse, SealKey
from tongban.testing import login_staff

pytestmark = pytest.mark.django_db


def holder_client(user):
    client = Client()
    client.force_login(user)
    return client


def test_public_verification_page_and_api(issued):
    client = Client()
    upload = SimpleUploadedFile("licence.json", json.dumps(issued.document, ensure_ascii=False).encode())
    page = client.post("/licences/verify/", {"file": upload}).content.decode()
    assert "有效" in page and issued.identifier in page
    assert issued.holder_code not in page  # no personal data on the public page
    forged = copy.deepcopy(issued.document)
    forged["licence"]["face"]["partner_name"] = "王五"
    page = client.post("/licences/verify/", {"text": json.dumps(forged, ensure_ascii=False)}).content.decode()
    assert "tampered" in page and "被改动" in page
    scanned = formats.qr_text(issued, "http://testserver")
    page = client.get(scanned.removeprefix("http://testserver")).content.decode()
    assert "(valid)" in page or "（valid）" in page
    assert "malformed" in client.post("/licences/verify/", {"text": "随便写的"}).content.decode()
    api = client.post("/api/licences/verify", issued.document, content_type="application/json").json()
    assert api["verdict"] == "valid" and api["identifier"] == issued.identifier
    api = client.post("/api/licences/verify", {"qr": scanned}, content_type="application/json").json()
    assert api["valid"] is True
    keys = client.get("/api/licences/keys").json()
    assert (
        keys["format"] == "tongban-seal-directory/1" and keys["keys"][0]["key_id"] == issued.seal_key.key_id
    )
    assert "PRIVATE" not in json.dumps(keys)
    status = client.get(f"/api/licences/status/{issued.identifier}").json()
    assert status["status"] == "valid" and "holder" not in status


def test_a_self_declared_account_gets_no_licences_by_its_id_number(issued, citizen):
    """Issue 15 #3: whoever registered first with a person's name and ID number (self-declared) saw that
    person's licences and reused them as materials. Only a verified claim to the ID number opens them."""
    from tongban.identity.constants import RealNameLevel
    from tongban.identity.selectors import holder_codes_for

    citizen.person.real_name_level = RealNameLevel.SELF_DECLARED
    citizen.person.save(update_fields=["real_name_level"])
    client = holder_client(citizen)
    wallet = client.get("/my/licences/").content.decode()
    assert issued.name not in wallet and "您的账号实名等级为“自行填报”" in wallet
    assert client.get(f"/my/licences/{issued.pk}/").status_code == 404
    assert services.applicant_holder_codes(citizen) == [] and holder_codes_for(citizen) == []
    citizen.person.real_name_level = RealNameLevel.REGISTRY_VERIFIED
    citizen.person.save(update_fields=["real_name_level"])
    assert issued.name in client.get("/my/licences/").content.decode()
    assert services.applicant_holder_codes(citizen) == [citizen.person.id_number]


def test_wallet_show_share_and_uses(issued, citizen, monkeypatch):
    client = holder_client(citizen)
    assert issued.name in client.get("/my/licences/").content.decode()
    assert holder_client(UserFactory()).get(f"/my/licences/{issued.pk}/").status_code == 404  # not theirs
    pdf = client.get(f"/my/licences/{issued.pk}/download/pdf/")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert client.get(f"/my/licences/{issued.pk}/download/json/").json() == issued.document
    assert formats.verify_credential(client.get(f"/my/licences/{issued.pk}/download/vc/").json())
    # 亮证: the code works for a few minutes only.
    token = services.show_token(issued)
    viewer = Client().get(f"/licences/show/{token}/").content.decode()
    assert issued.number in viewer and "签章有效" in viewer
    assert "无效" in Client().get(f"/licences/show/{token}x/").content.decode()
    monkeypatch.setattr(services, "SHOW_SECONDS", -1)
    assert "已过期" in Client().get(f"/licences/show/{token}/").content.decode()
    # A consented, time-limited, revocable share.
    response = client.post(
        f"/my/licences/{issued.pk}/share/",
        {"recipient": "临江银行", "purpose": "开户核验", "days": "3"},
        follow=True,
    )
    assert "已生成分享链接" in response.content.decode()
    share = LicenceShare.objects.get()
    seen = Client().get(f"/licences/shared/{share.token}/").content.decode()
    assert issued.number in seen and "开户核验" in seen
    bad = client.post(
        f"/my/licences/{issued.pk}/share/", {"recipient": "", "purpose": "x", "days": "90"}, follow=True
    )
    assert "请填写分享对象" in bad.content.decode() and LicenceShare.objects.count() == 1
    client.post(f"/my/licences/shares/{share.pk}/revoke/")
    assert "撤回" in Client().get(f"/licences/shared/{share.token}/").content.decode()
    expired = services.share_create(holder=citizen, licence=issued, recipient="某公司", purpose="入职")
    LicenceShare.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    assert "失效" in Client().get(f"/licences/shared/{expired.token}/").content.decode()
    kinds = set(LicenceUse.objects.filter(licence=issued).values_list("kind", flat=True))
    assert {LicenceUse.SHOWN, LicenceUse.SHARED_VIEW} <= kinds
    detail = client.get(f"/my/licences/{issued.pk}/").content.decode()
    assert "临江银行" in detail and "开户核验" in detail and "亮证" in detail


def test_staff_issue_status_and_seals(person_type, citizen, market):
    approver = StaffFactory(roles=[(market, ROLE.APPROVER)], totp=True)
    admin = StaffFactory(roles=[(market, ROLE.DEPARTMENT_ADMIN)], totp=True)
    clerk = StaffFactory(roles=[(market, ROLE.INTAKE_CLERK)], totp=True)
    client = Client()
    login_staff(client, approver)
    bad = client.post(
        "/staff/licences/issue/",
        {
            "type": person_type.code,
            "issuer": market.pk,
            "holder_name": "张三",
            "holder_code": "123",
            "face_partner_name": "李四",
        },
    )
    assert "18位" in bad.content.decode() or "身份" in bad.content.decode()
    response = client.post(
        "/staff/licences/issue/",
        {
            "type": person_type.code,
            "issuer": market.pk,
            "holder_name": citizen.person.name,
            "holder_code": citizen.person.id_number,
            "face_partner_name": "李四",
        },
    )
    assert response.status_code == 302
    licence = person_type.licences.get()
    page = client.get(response["Location"]).content.decode()
    assert "签章有效" in page
    client.post(f"/staff/licences/{licence.pk}/", {"action": "suspend", "reason": "核查"})
    licence.refresh_from_db()
    assert licence.status == LicenceStatus.SUSPENDED
    client.post(f"/staff/licences/{licence.pk}/", {"action": "renew", "reason": "到期延续"})
    assert person_type.licences.count() == 2
    other = Client()
    login_staff(other, clerk)
    assert other.get("/staff/licences/").status_code == 403
    seals = Client()
    login_staff(seals, admin)
    assert licence.seal_key.key_id in seals.get("/staff/licences/seals/").content.decode()
    seals.post(
        "/staff/licences/seals/", {"action": "rotate", "department": market.pk, "algorithm": "Ed25519"}
    )
    assert SealKey.objects.filter(department=market, algorithm="Ed25519", retired_at__isnull=True).exists()
    key = SealKey.objects.filter(department=market, algorithm="SM2-SM3").first()
    seals.post("/staff/licences/seals/", {"action": "revoke", "key": key.pk, "reason": "泄露演练"})
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert (
        client.get("/staff/licences/seals/").status_code == 403
    )  # an approver issues, but holds no seal keys
