"""Issue 15 #4: only the departments a licence type names may issue, renew or change it; a licence sealed
by any other department does not verify, online or offline, and is not reused as a material."""

import io
import json

import pytest
from django.core.management import call_command
from django.test import Client

from tongban.core.models import AuditEvent
from tongban.identity.tests.factories import ROLE, DepartmentFactory, StaffFactory
from tongban.licences import offline, services
from tongban.licences.constants import HolderCodeType, Verdict
from tongban.licences.models import Licence, LicenceShare, LicenceType, SealKey
from tongban.licences.verify import KeyDirectory, verify_file
from tongban.testing import login_staff

pytestmark = pytest.mark.django_db
MARRIAGE = "110000000000000000008"


@pytest.fixture
def civil(db):
    return DepartmentFactory(code="ljs-mzj", name="临江市民政局", short_name="市民政局")


@pytest.fixture
def health(db):
    return DepartmentFactory(code="ljs-wjw", name="临江市卫生健康委员会", short_name="市卫健委")


@pytest.fixture
def marriage(civil):
    kind = LicenceType.objects.create(
        code=MARRIAGE,
        name="结婚证",
        issuer=civil,
        holder_code_type=HolderCodeType.ID_NUMBER,
        face_schema={"type": "object", "properties": {"partner_name": {"type": "string"}}},
    )
    kind.issuers.add(civil)
    return kind


def issue(kind, issuer, citizen, **extra):
    return services.licence_issue(
        acting_user=None,
        licence_type=kind,
        issuer=issuer,
        holder_name=citizen.person.name,
        holder_code=citizen.person.id_number,
        face={"partner_name": "李四"},
        **extra,
    )


def refusals(action):
    return AuditEvent.objects.filter(
        event_type="permission_denied",
        outcome="failure",
        extra_data__action=action,
        extra_data__reason="not_licence_issuer",
    )


def test_staff_of_another_department_cannot_issue_the_type(marriage, health, citizen):
    """The review's attack: 卫健委 staff issue a 结婚证 at /staff/licences/issue/."""
    approver = StaffFactory(roles=[(health, ROLE.APPROVER)], totp=True)
    client = Client()
    login_staff(client, approver)
    page = client.get(f"/staff/licences/issue/?type={MARRIAGE}")
    assert "您所在的部门无权签发“结婚证”。" in page.content.decode()
    assert 'name="holder_code"' not in page.content.decode()  # no form to fill
    assert "结婚证" not in client.get("/staff/licences/").content.decode()  # not offered either
    response = client.post(
        "/staff/licences/issue/",
        {
            "type": MARRIAGE,
            "issuer": health.pk,
            "holder_name": citizen.person.name,
            "holder_code": citizen.person.id_number,
            "face_partner_name": "李四",
        },
    )
    assert response.status_code == 403
    assert "临江市卫生健康委员会无权签发“结婚证”：该类证照由临江市民政局颁发。" in response.content.decode()
    assert not Licence.objects.exists()
    refusal = refusals("licence_issue").get()
    assert refusal.actor == approver and refusal.department == health
    assert refusal.extra_data["licence_type"] == MARRIAGE and refusal.extra_data["issuer"] == "ljs-wjw"


def test_the_service_refuses_whoever_calls_it(marriage, health, civil, citizen):
    with pytest.raises(services.IssuerNotAuthorised) as err:
        issue(marriage, health, citizen)
    assert err.value.message == "临江市卫生健康委员会无权签发“结婚证”：该类证照由临江市民政局颁发。"
    assert refusals("licence_issue").count() == 1 and not Licence.objects.exists()
    nobody = LicenceType.objects.create(
        code="110000000000000000099", name="无主证照", holder_code_type=HolderCodeType.ID_NUMBER
    )
    with pytest.raises(services.IssuerNotAuthorised) as err:
        issue(nobody, civil, citizen)
    assert err.value.message == "“无主证照”尚未指定颁发机构，临江市民政局不能签发。"
    assert issue(marriage, civil, citizen).issuer == civil  # the authority itself still issues


def test_an_issuer_taken_off_the_list_can_no_longer_renew_or_change_and_its_licences_fail(
    marriage, health, civil, citizen
):
    services.licence_type_set_issuers(acting_user=None, licence_type=marriage, departments=[civil, health])
    licence = issue(marriage, health, citizen)
    assert services.licence_verify(licence.document).valid
    assert services.held_licences([citizen.person.id_number], {MARRIAGE}) == {MARRIAGE: licence.pk}
    services.licence_type_set_issuers(acting_user=None, licence_type=marriage, departments=[civil])
    assert AuditEvent.objects.filter(
        event_type="licence_type_changed", extra_data__after=["ljs-mzj"]
    ).exists()
    for renew in (True, False):
        with pytest.raises(services.IssuerNotAuthorised):
            services.licence_change(acting_user=None, licence=licence, renew=renew, reason="延续")
    assert refusals("renew").count() == 1 and refusals("change").count() == 1
    assert Licence.objects.filter(licence_type=marriage).count() == 1
    result = services.licence_verify(licence.document)
    assert result.verdict == Verdict.NOT_AUTHORISED
    assert result.reason == "印章属于临江市卫生健康委员会，该部门无权颁发“结婚证”，这份证照无效。"
    # Nor does it stand in for a material in the next application.
    assert services.held_licences([citizen.person.id_number], {MARRIAGE}) == {}
    # Offline: the exported directory names the issuers of each type.
    own = issue(marriage, civil, citizen)
    exported = KeyDirectory.from_json(services.key_directory().to_json())
    assert exported.type_issuers[MARRIAGE] == ["ljs-mzj"]
    assert verify_file(licence.document, exported, today=licence.issued_on).verdict == Verdict.NOT_AUTHORISED
    assert verify_file(own.document, exported, today=own.issued_on).verdict == Verdict.VALID


def test_offline_verification_refuses_and_an_old_directory_cannot_say_valid(
    marriage, health, civil, citizen, tmp_path, capsys
):
    services.licence_type_set_issuers(acting_user=None, licence_type=marriage, departments=[civil, health])
    forged = issue(marriage, health, citizen)
    services.licence_type_set_issuers(acting_user=None, licence_type=marriage, departments=[civil])
    own = issue(marriage, civil, citizen)
    directory = tmp_path / "keys.json"
    call_command("licence", "export-directory", str(directory), stdout=io.StringIO())
    assert json.loads(directory.read_text())["licence_type_issuers"] == {MARRIAGE: ["ljs-mzj"]}
    for licence, status in ((forged, 1), (own, 0)):
        path = tmp_path / f"{licence.pk}.json"
        path.write_text(json.dumps(licence.document, ensure_ascii=False))
        assert offline.main([str(path), "--directory", str(directory), "--json"]) == status
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["verdict"] for line in lines] == ["not_authorised", "valid"]
    old = json.loads(directory.read_text())
    del old["licence_type_issuers"]  # exported before types named their issuers
    result = verify_file(own.document, KeyDirectory.from_json(json.dumps(old)), today=own.issued_on)
    assert result.verdict == Verdict.NOT_AUTHORISED and "请重新导出公钥目录" in result.reason


def test_the_issuers_command_lists_and_sets(marriage, health, civil, citizen):
    out = io.StringIO()
    call_command("licence", "issuers", "结婚证", "--add", "ljs-wjw", stdout=out)
    assert health in services.licence_type_issuers(marriage)
    issue(marriage, health, citizen)
    out = io.StringIO()
    call_command("licence", "issuers", MARRIAGE, "--remove", "ljs-wjw", stdout=out)
    text = out.getvalue()
    assert "ljs-mzj 临江市民政局 (default): 0 issued" in text
    assert "! ljs-wjw: 1 issued without the authority" in text
    assert services.licence_type_issuers(marriage) == [civil]
    out = io.StringIO()
    call_command("licence", "issuers", stdout=out)
    assert f"{MARRIAGE} 结婚证" in out.getvalue()


def test_a_seal_key_made_on_first_use_is_audited(marriage, civil, citizen):
    assert not SealKey.objects.exists()
    licence = issue(marriage, civil, citizen)
    event = AuditEvent.objects.get(event_type="seal_key_changed")
    assert event.extra_data["action"] == "create_on_first_use"
    assert event.extra_data["key_id"] == licence.seal_key.key_id and event.department == civil


def test_share_revoke_is_a_durable_audited_service(issued, citizen):
    client = Client()
    client.force_login(citizen)
    share = services.share_create(holder=citizen, licence=issued, recipient="某银行", purpose="贷款")
    response = client.post(f"/my/licences/shares/{share.pk}/revoke/", follow=True)
    assert response.status_code == 200 and "已撤回分享。" in response.content.decode()
    event = AuditEvent.objects.get(event_type="licence_share_revoked")
    assert event.actor == citizen and event.target_id == str(issued.pk)
    assert event.extra_data == {"share": share.pk, "recipient": "某银行"}
    assert Client().get(f"/licences/shared/{share.token}/").status_code == 410
    again = client.post(f"/my/licences/shares/{share.pk}/revoke/", follow=True)
    assert "该分享已撤回。" in again.content.decode()
    assert AuditEvent.objects.filter(event_type="licence_share_revoked").count() == 1
    assert LicenceShare.objects.get().revoked_at is not None
