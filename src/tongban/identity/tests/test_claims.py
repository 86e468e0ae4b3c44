"""Claims on an organisation as the outside review made them (issue 15, item 3): /account/organisations/new/
registered a company whose legal representative in the legal-entity registry was somebody else and locked
the real representative out. Also agents: authorising a self-declared account."""

import pytest
from django.test import Client

from tongban.core import notify
from tongban.core.constants import AuditEventType, AuditOutcome
from tongban.core.models import AuditEvent, OutboxMessage
from tongban.identity import selectors, services
from tongban.identity.constants import RealNameLevel
from tongban.identity.models import Organisation, OrganisationAgent
from tongban.registries.models import LegalEntityRecord

from .factories import OrganisationFactory, PersonFactory, UserFactory, _next_uscc

pytestmark = pytest.mark.django_db
NEW = "/account/organisations/new/"


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def claim(client, uscc):
    return client.post(NEW, {"uscc": uscc, "org_type": "enterprise"})


def entity(rep_id_number, **fields):
    return LegalEntityRecord.objects.create(
        uscc=fields.pop("uscc", None) or _next_uscc(),
        name=fields.pop("name", "临江江南餐饮管理有限公司"),
        legal_rep_id_number=rep_id_number,
        address="临江市江城区滨江路1号",
        area_code="339902",
        **fields,
    )


def test_only_the_representative_the_registry_names_registers_the_organisation():
    real = UserFactory()
    firm = entity(real.person.id_number)
    stranger = UserFactory()
    refused = claim(client_for(stranger), firm.uscc)
    assert refused.status_code == 403
    assert "法人库登记的法定代表人不是您，不能登记该组织。" in refused.content.decode()
    assert not Organisation.objects.exists()
    failure = AuditEvent.objects.get(event_type=AuditEventType.ORG_REGISTERED, outcome=AuditOutcome.FAILURE)
    assert failure.actor == stranger and failure.extra_data["reason"] == "not_representative"
    # The real representative is not locked out, and the registry's data is what is recorded.
    ok = claim(client_for(real), firm.uscc)
    assert ok.status_code == 302 and ok["Location"] == "/account/"
    org = Organisation.objects.get(uscc=firm.uscc)
    assert org.legal_representative == real.person and org.name == firm.name
    assert org.address == firm.address and org.verification == "registry_verified"


def test_a_self_declared_account_cannot_claim_even_with_the_representatives_id_number():
    # A stranger registered first under the representative's ID number (self-declared, unproven).
    squatter = UserFactory(person__real_name_level=RealNameLevel.SELF_DECLARED)
    firm = entity(squatter.person.id_number)
    refused = claim(client_for(squatter), firm.uscc)
    assert refused.status_code == 403
    assert "登记组织须先完成实名核验：您的账号实名等级为“自行填报”。" in refused.content.decode()
    assert not Organisation.objects.exists()


def test_unknown_or_closed_organisations_cannot_be_registered():
    user = UserFactory()
    unknown = claim(client_for(user), _next_uscc())
    assert (
        unknown.status_code == 200 and "法人库中没有该统一社会信用代码的登记信息" in unknown.content.decode()
    )
    closed = entity(user.person.id_number, status=LegalEntityRecord.CANCELLED)
    answer = claim(client_for(user), closed.uscc)
    assert "法人库中该组织的状态为“注销”，不能登记。" in answer.content.decode()
    assert not Organisation.objects.exists()


def test_the_registrys_representative_takes_over_an_organisation_claimed_by_someone_else(
    django_capture_on_commit_callbacks,
):
    # Claimed before claims were checked (or the registry changed its representative since).
    squatter = UserFactory()
    org = OrganisationFactory(legal_representative=squatter.person, verification="self_declared")
    accomplice = UserFactory()
    OrganisationAgent.objects.create(organisation=org, person=accomplice.person, granted_by=squatter)
    real = UserFactory()
    entity(real.person.id_number, uscc=org.uscc, name="临江真名有限公司")
    with django_capture_on_commit_callbacks(execute=True):
        response = claim(client_for(real), org.uscc)
    assert response.status_code == 302
    org.refresh_from_db()
    assert org.legal_representative == real.person and org.name == "临江真名有限公司"
    assert not selectors.can_act_for(squatter, org) and not selectors.can_act_for(accomplice, org)
    assert selectors.can_act_for(real, org)
    event = AuditEvent.objects.get(event_type=AuditEventType.ORG_REGISTERED, outcome=AuditOutcome.SUCCESS)
    assert event.extra_data["replaced_representative"] == squatter.person.masked_id_number
    assert event.extra_data["agents_revoked"] == 1
    assert OutboxMessage.objects.filter(recipient=squatter.phone).exists()
    assert any(m["to"] == squatter.phone and "不再代表该组织办事" in m["text"] for m in notify.outbox)


def test_agents_are_authorised_only_between_verified_accounts():
    owner = UserFactory()
    org = OrganisationFactory(legal_representative=owner.person)
    squatter = UserFactory(person__real_name_level=RealNameLevel.SELF_DECLARED)
    page = f"/account/organisations/{org.uuid}/agents/new/"
    refused = client_for(owner).post(
        page, {"name": squatter.person.name, "id_number": squatter.person.id_number}
    )
    assert refused.status_code == 200
    assert "该经办人的账号尚未完成实名核验，暂不能授权。" in refused.content.decode()
    unverified_owner = UserFactory(person__real_name_level=RealNameLevel.SELF_DECLARED)
    theirs = OrganisationFactory(legal_representative=unverified_owner.person)
    agent = UserFactory()
    response = client_for(unverified_owner).post(
        f"/account/organisations/{theirs.uuid}/agents/new/",
        {"name": agent.person.name, "id_number": agent.person.id_number},
    )
    assert response.status_code == 403
    assert "授权经办人须先完成实名核验" in response.content.decode()
    assert not OrganisationAgent.objects.exists()
    services.agent_grant(
        acting_user=owner, organisation=org, id_number=agent.person.id_number, name=agent.person.name
    )
    assert selectors.can_act_for(agent, org)


def test_a_person_without_an_account_is_no_representative_to_claim_for():
    absent = PersonFactory()
    firm = entity(absent.id_number)
    refused = claim(client_for(UserFactory()), firm.uscc)
    assert refused.status_code == 403 and not Organisation.objects.exists()
