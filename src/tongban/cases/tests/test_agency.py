"""Issue 15 #10: an organisation's cases follow the current representation. The legal representative (in
the current data) and agents whose authorisation is neither revoked nor expired see and act on every case
of the organisation, whoever filed it; nobody else does, its former agents included. The same for the
organisation's drafts, notices and licence shares."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from tongban.cases import drafts, services
from tongban.cases.constants import CaseStatus
from tongban.cases.models import Case, CaseTask, Draft
from tongban.cases.services import CaseError
from tongban.catalog.demo_fields import FIELDS, simple
from tongban.core import notify
from tongban.core.constants import AuditEventType, AuditOutcome
from tongban.core.models import AuditEvent
from tongban.identity import services as identity_services
from tongban.identity.middleware import SESSION_KEY
from tongban.identity.models import OrganisationAgent
from tongban.identity.tests.factories import ROLE, UserFactory
from tongban.licences import services as licence_services
from tongban.licences.constants import HolderCodeType
from tongban.licences.models import LicenceShare, LicenceType

from .conftest import publish

pytestmark = pytest.mark.django_db
NOT_FOUND = "页面不存在"


@pytest.fixture
def company(city):
    """The citizen's company (they are its legal representative), an enterprise-only item, and an agent
    the representative authorised who files a case for the company (the demo's 赵志强 and case …0046)."""
    org, owner = city["org"], city["citizen"]
    item = publish(
        city["market"],
        "010000300010",
        name="食品经营许可（企业）",
        applicant_types=["organisation"],
        form_schema={
            "type": "object",
            "required": ["shop_name", "seats"],
            "properties": {"shop_name": FIELDS["shop_name"], "seats": FIELDS["seats"]},
        },
        workflow=simple(),
    )
    agent = UserFactory()
    agency = identity_services.agent_grant(
        acting_user=owner, organisation=org, id_number=agent.person.id_number, name=agent.person.name
    )
    agent_client = acting(agent, org)
    form = f"/services/items/{item.implementation_code}/apply/"
    assert (
        agent_client.post(form, {"action": "next", "shop_name": "临江味道", "seats": "40"}).status_code == 302
    )
    assert agent_client.post(form + "review/").status_code == 302
    case = Case.objects.get()
    assert case.applicant == agent and case.organisation == org
    return {"org": org, "owner": owner, "agent": agent, "agency": agency, "item": item, "case": case}


def acting(user, org=None):
    client = Client()
    client.force_login(user)
    if org is not None:
        session = client.session
        session[SESSION_KEY] = str(org.uuid)
        session.save()
    return client


def revoke(company):
    owner_client = acting(company["owner"])
    response = owner_client.post(f"/account/agents/{company['agency'].pk}/revoke/", follow=True)
    assert "已撤销经办人授权。" in response.content.decode()


def refusals(user):
    return AuditEvent.objects.filter(
        event_type=AuditEventType.PERMISSION_DENIED, outcome=AuditOutcome.FAILURE, actor=user
    )


def test_a_revoked_agent_can_neither_open_nor_withdraw_the_companys_case(company):
    case, agent = company["case"], company["agent"]
    before = acting(agent, company["org"])
    assert before.get(f"/my/cases/{case.number}/").status_code == 200
    revoke(company)
    for client in (before, acting(agent)):  # the session acting for the company, and a fresh one
        page = client.get(f"/my/cases/{case.number}/")
        assert page.status_code == 404 and NOT_FOUND in page.content.decode()
        withdraw = client.post(f"/my/cases/{case.number}/withdraw/", {"reason": "不办了"})
        assert withdraw.status_code == 404 and NOT_FOUND in withdraw.content.decode()
        assert case.number not in client.get("/my/cases/").content.decode()
    case.refresh_from_db()
    assert case.status == CaseStatus.SUBMITTED
    assert {r.extra_data["action"] for r in refusals(agent)} == {"view", "withdraw"}
    assert all(r.target_id == str(case.pk) for r in refusals(agent))
    # The service refuses too, whoever calls it, with the refusal in the audit trail.
    with pytest.raises(CaseError) as err:
        services.case_withdraw(applicant=agent, case=case)
    assert err.value.message == "这不是您的办件。" and err.value.code == "forbidden"
    case.refresh_from_db()
    assert case.status == CaseStatus.SUBMITTED


def test_the_legal_representative_sees_and_acts_on_the_case_an_agent_filed(company):
    case, owner = company["case"], company["owner"]
    as_company = acting(owner, company["org"])
    assert case.number in as_company.get("/my/cases/").content.decode()
    for client in (as_company, acting(owner)):  # opening a link while acting for themself works too
        page = client.get(f"/my/cases/{case.number}/")
        assert page.status_code == 200 and case.query_code in page.content.decode()
    # The case is the company's, not the representative's personal one: not in their own list.
    assert case.number not in acting(owner).get("/my/cases/").content.decode()
    response = as_company.post(f"/my/cases/{case.number}/withdraw/", {"reason": "改期"}, follow=True)
    assert response.status_code == 200 and "已撤回申请。" in response.content.decode()
    case.refresh_from_db()
    assert case.status == CaseStatus.WITHDRAWN


def test_the_representative_sends_the_correction_the_former_agent_cannot(city, company):
    case = company["case"]
    services.task_act(
        actor=city["staff"][("ljs-scjgj", ROLE.INTAKE_CLERK)],
        task=CaseTask.objects.get(case=case, step_key="accept"),
        action="correction",
        reason="餐位数有误",
        correction_items=["餐位数"],
    )
    revoke(company)
    url = f"/my/cases/{case.number}/correct/"
    refused = acting(company["agent"]).post(url, {"shop_name": "临江味道", "seats": "20"})
    assert refused.status_code == 404 and NOT_FOUND in refused.content.decode()
    case.refresh_from_db()
    assert case.status == CaseStatus.CORRECTION and case.answers["seats"] == 40
    page = acting(company["owner"]).get(f"/my/cases/{case.number}/").content.decode()
    assert "请补正" in page
    done = acting(company["owner"]).post(url, {"shop_name": "临江味道", "seats": "20"}, follow=True)
    assert "已提交补正，部门将继续办理。" in done.content.decode()
    case.refresh_from_db()
    assert case.status == CaseStatus.SUBMITTED and case.answers["seats"] == 20


def test_an_agent_whose_authorisation_expired_is_refused(company):
    case, agent = company["case"], company["agent"]
    OrganisationAgent.objects.filter(pk=company["agency"].pk).update(
        valid_until=timezone.localdate() - dt.timedelta(days=1)
    )
    client = acting(agent, company["org"])
    page = client.get(f"/my/cases/{case.number}/")
    assert page.status_code == 404 and NOT_FOUND in page.content.decode()
    assert SESSION_KEY not in client.session  # nor does the session still act for the company
    withdraw = client.post(f"/my/cases/{case.number}/withdraw/")
    assert withdraw.status_code == 404
    with pytest.raises(CaseError, match="这不是您的办件。"):
        services.case_withdraw(applicant=agent, case=case)
    case.refresh_from_db()
    assert case.status == CaseStatus.SUBMITTED
    # Valid to the end of its last day: today still counts.
    OrganisationAgent.objects.filter(pk=company["agency"].pk).update(valid_until=timezone.localdate())
    assert acting(agent, company["org"]).get(f"/my/cases/{case.number}/").status_code == 200


def test_a_new_agent_and_a_new_representative_get_the_companys_cases(company):
    case, org = company["case"], company["org"]
    stranger = UserFactory()
    assert acting(stranger).get(f"/my/cases/{case.number}/").status_code == 404
    colleague = UserFactory()
    identity_services.agent_grant(
        acting_user=company["owner"],
        organisation=org,
        id_number=colleague.person.id_number,
        name=colleague.person.name,
    )
    assert acting(colleague, org).get(f"/my/cases/{case.number}/").status_code == 200
    # The legal-entity data names a new representative: the former one loses the case, the new one has it.
    org.legal_representative = stranger.person
    org.save(update_fields=["legal_representative"])
    assert acting(company["owner"]).get(f"/my/cases/{case.number}/").status_code == 404
    assert acting(stranger, org).get(f"/my/cases/{case.number}/").status_code == 200


def test_a_former_agents_drafts_for_the_company_are_gone(company, django_capture_on_commit_callbacks):
    agent, org = company["agent"], company["org"]
    form = f"/services/items/{company['item'].implementation_code}/apply/"
    acting(agent, org).post(form, {"action": "save", "shop_name": "第二家店", "seats": "8"})
    draft = Draft.objects.get(applicant=agent, organisation=org)
    discard = f"/my/drafts/{draft.pk}/discard/"
    assert discard in acting(agent).get("/my/cases/").content.decode()
    revoke(company)
    assert discard not in acting(agent).get("/my/cases/").content.decode()
    assert acting(agent).post(discard).status_code == 404
    with pytest.raises(CaseError, match="您不是该组织的法定代表人或有效经办人。"):
        drafts.draft_save(applicant=agent, answers={"seats": 9}, item=company["item"], organisation=org)
    with django_capture_on_commit_callbacks(execute=True):
        assert drafts.drafts_purge() == 1  # the daily sweep takes it, untouched for 30 days or not
    assert not Draft.objects.exists()


def test_notices_of_the_companys_case_go_to_whoever_may_act_for_it(city, company, settings):
    from tongban.cases.notify import send_pending_notices

    settings.CELERY_TASK_ALWAYS_EAGER = False
    case, agent, owner = company["case"], company["agent"], company["owner"]
    send_pending_notices()
    notify.send_outbox()
    assert notify.outbox[-1]["to"] == agent.phone  # the filer, while their agency lasts
    revoke(company)
    services.task_act(
        actor=city["staff"][("ljs-scjgj", ROLE.INTAKE_CLERK)],
        task=CaseTask.objects.get(case=case, step_key="accept"),
        action="accept",
    )
    sent = len(notify.outbox)
    moved = send_pending_notices()
    assert moved >= 1 and notify.send_outbox() == moved
    assert {m["to"] for m in notify.outbox[sent:]} == {owner.phone}


def test_the_representative_withdraws_a_share_a_former_agent_made(city, company):
    org, agent, owner = company["org"], company["agent"], company["owner"]
    kind = LicenceType.objects.create(
        code="110000000000000000001",
        name="营业执照",
        issuer=city["market"],
        holder_code_type=HolderCodeType.USCC,
        face_schema={"type": "object", "properties": {}},
    )
    licence = licence_services.licence_issue(
        acting_user=None, licence_type=kind, holder_name=org.name, holder_code=org.uscc, face={}
    )
    acting(agent, org).post(
        f"/my/licences/{licence.pk}/share/", {"recipient": "临江银行", "purpose": "开户", "days": "30"}
    )
    share = LicenceShare.objects.get()
    revoke(company)
    assert acting(agent).get(f"/my/licences/{licence.pk}/").status_code == 404
    assert acting(agent).post(f"/my/licences/shares/{share.pk}/revoke/").status_code == 404
    with pytest.raises(
        licence_services.LicenceError, match="您不是该证照的持证人或其法定代表人、有效经办人。"
    ):
        licence_services.share_create(holder=agent, licence=licence, recipient="某公司", purpose="入职")
    assert refusals(agent).filter(extra_data__action="share_create").exists()
    # Not while acting for themself: the licence is the company's.
    assert acting(owner).post(f"/my/licences/shares/{share.pk}/revoke/").status_code == 404
    response = acting(owner, org).post(f"/my/licences/shares/{share.pk}/revoke/", follow=True)
    assert "已撤回分享。" in response.content.decode()
    share.refresh_from_db()
    assert share.revoked_at is not None


def test_only_the_legal_representative_opens_the_agent_form(company):
    url = f"/account/organisations/{company['org'].uuid}/agents/new/"
    assert acting(company["owner"]).get(url).status_code == 200
    for user in (company["agent"], UserFactory()):
        page = acting(user).get(url)
        assert page.status_code == 404 and NOT_FOUND in page.content.decode()


def test_a_system_sends_the_companys_correction_only_with_a_current_representatives_consent(city, company):
    import json

    from tongban.testing import token

    from .conftest import consent

    case = company["case"]
    window = token(city["market"], "registration.apply", "registration.read")
    consent(company["agent"], city["market"])  # the agent authorised the window system while an agent
    services.task_act(
        actor=city["staff"][("ljs-scjgj", ROLE.INTAKE_CLERK)],
        task=CaseTask.objects.get(case=case, step_key="accept"),
        action="correction",
        reason="餐位数有误",
        correction_items=["餐位数"],
    )
    revoke(company)

    def put(applicant_id):
        body = {"applicantId": applicant_id, "formData": {"data": {"shop_name": "临江味道", "seats": 20}}}
        return Client().put(
            f"/api/registration/applications/{case.uuid}",
            json.dumps(body),
            content_type="application/json",
            **window,
        )

    refused = put(str(company["org"].uuid))
    assert refused.status_code == 403
    assert refused.json()["detail"] == "该组织的法定代表人或经办人尚未授权本系统代为办理。"
    as_former_agent = put(str(company["agent"].uuid))
    assert as_former_agent.status_code == 403 and as_former_agent.json()["detail"] == "这不是您的办件。"
    assert AuditEvent.objects.filter(
        event_type=AuditEventType.PERMISSION_DENIED, extra_data__reason="not_applicant"
    ).exists()
    case.refresh_from_db()
    assert case.status == CaseStatus.CORRECTION
    consent(company["owner"], city["market"])
    assert put(str(company["org"].uuid)).status_code == 200
    case.refresh_from_db()
    assert case.status == CaseStatus.SUBMITTED and case.answers["seats"] == 20
