import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from tongban.core import notify
from tongban.core.constants import AuditEventType, AuditOutcome
from tongban.core.models import AuditEvent
from tongban.identity import selectors, services
from tongban.identity.constants import AccountType, RealNameLevel, StaffRoleName
from tongban.identity.errors import IdentityError, NotPermitted
from tongban.identity.models import OrganisationAgent, Person, StaffRole, User
from tongban.identity.permissions import Perm
from tongban.registries.models import LegalEntityRecord
from tongban.testing import sms_code

from .factories import (
    ROLE,
    DepartmentFactory,
    OrganisationFactory,
    PersonFactory,
    StaffFactory,
    UserFactory,
    _next_id_number,
    _next_uscc,
)

pytestmark = pytest.mark.django_db


def register(**overrides):
    """Both steps through the services, reading the code from the SMS as a person would."""
    data = {
        "name": "王小明",
        "id_number": _next_id_number(),
        "phone": "13700000001",
        "password": "Pass-word-2026",
    }
    data.update(overrides)
    services.registration_request(name=data["name"], id_number=data["id_number"], phone=data["phone"])
    return services.person_register(**data, code=sms_code(data["phone"]))


def test_register_creates_person_and_account_with_self_declared_level():
    user = register()
    assert user.account_type == AccountType.PUBLIC
    assert user.person.real_name_level == RealNameLevel.SELF_DECLARED
    assert user.check_password("Pass-word-2026")
    assert AuditEvent.objects.filter(event_type=AuditEventType.REGISTERED, actor=user).count() == 1


def test_register_refuses_invalid_id_number_with_chinese_reason_and_saves_nothing():
    number = _next_id_number()
    broken = number[:17] + ("0" if number[17] != "0" else "1")
    with pytest.raises(IdentityError) as err:
        register(id_number=broken)
    assert err.value.field == "id_number"
    assert "校验码" in err.value.message
    assert not Person.objects.exists() and not User.objects.exists()


def test_register_refuses_duplicates():
    number = _next_id_number()
    register(id_number=number, phone="13700000001")
    with pytest.raises(IdentityError) as err:
        register(id_number=number.lower(), phone="13700000002")
    assert err.value.code == "sms_code"  # no code was sent: the SMS said the ID number has an account
    assert "已注册通办账号" in notify.outbox[-2]["text"] and notify.outbox[-2]["to"] == "13700000002"
    cache.clear()  # a minute later: one code a minute per phone
    with pytest.raises(IdentityError) as err:
        register(phone="13700000001")
    assert err.value.code == "sms_code"
    assert "本手机号已绑定通办账号" in notify.outbox[-1]["text"]
    assert User.objects.count() == 1


def test_register_refuses_name_that_does_not_match_known_person():
    person = PersonFactory(name="李四")
    with pytest.raises(IdentityError) as err:
        register(name="李五", id_number=person.id_number)
    assert err.value.code == "sms_code"
    assert "姓名与公民身份号码未通过核验" in notify.outbox[-1]["text"]


def test_register_refuses_weak_password_without_using_up_the_code():
    number = _next_id_number()
    services.registration_request(name="王小明", id_number=number, phone="13700000001")
    code = sms_code("13700000001")
    with pytest.raises(IdentityError) as err:
        services.person_register(
            name="王小明", id_number=number, phone="13700000001", password="12345678901", code=code
        )
    assert err.value.field == "password"
    assert not User.objects.exists()
    user = services.person_register(
        name="王小明", id_number=number, phone="13700000001", password="Pass-word-2026", code=code
    )
    assert user.check_password("Pass-word-2026")


def test_organisation_register_and_acting():
    user = UserFactory()
    uscc = _next_uscc()
    LegalEntityRecord.objects.create(
        uscc=uscc, name="临江小厨餐饮有限公司", legal_rep_id_number=user.person.id_number
    )
    org = services.organisation_register(acting_user=user, uscc=uscc, org_type="enterprise")
    assert org.legal_representative == user.person and org.name == "临江小厨餐饮有限公司"
    assert org.verification == "registry_verified"
    assert list(selectors.organisations_for(user)) == [org]
    with pytest.raises(IdentityError) as err:
        services.organisation_register(acting_user=user, uscc=org.uscc, org_type="enterprise")
    assert err.value.code == "duplicate"


def test_organisation_register_refuses_bad_credit_code():
    with pytest.raises(IdentityError) as err:
        services.organisation_register(
            acting_user=UserFactory(), uscc="91350100M000100Y44", org_type="enterprise"
        )
    assert err.value.field == "uscc"
    assert "校验码" in err.value.message


def test_staff_cannot_register_organisations():
    with pytest.raises(NotPermitted):
        services.organisation_register(acting_user=StaffFactory(), uscc=_next_uscc(), org_type="enterprise")


def test_agent_grant_lets_agent_act_until_revoked():
    owner = UserFactory()
    org = OrganisationFactory(legal_representative=owner.person)
    agent_user = UserFactory()
    agent = services.agent_grant(
        acting_user=owner,
        organisation=org,
        id_number=agent_user.person.id_number,
        name=agent_user.person.name,
    )
    assert selectors.can_act_for(agent_user, org)
    services.acting_switch(user=agent_user, organisation=org)
    services.agent_revoke(acting_user=owner, agent=agent)
    assert not selectors.can_act_for(agent_user, org)
    with pytest.raises(NotPermitted):
        services.acting_switch(user=agent_user, organisation=org)
    failure = AuditEvent.objects.filter(
        event_type=AuditEventType.ACTING_SWITCHED, outcome=AuditOutcome.FAILURE
    )
    assert failure.count() == 1


def test_expired_agency_no_longer_counts():
    org = OrganisationFactory()
    agent_user = UserFactory()
    OrganisationAgent.objects.create(
        organisation=org,
        person=agent_user.person,
        granted_by=UserFactory(),
        valid_until=timezone.localdate() - dt.timedelta(days=1),
    )
    assert not selectors.can_act_for(agent_user, org)


def test_only_legal_representative_grants_agents_and_agent_must_be_registered():
    owner = UserFactory()
    org = OrganisationFactory(legal_representative=owner.person)
    stranger = UserFactory()
    target = UserFactory()
    with pytest.raises(NotPermitted):
        services.agent_grant(
            acting_user=stranger, organisation=org, id_number=target.person.id_number, name=target.person.name
        )
    unregistered = PersonFactory()
    with pytest.raises(IdentityError):
        services.agent_grant(
            acting_user=owner, organisation=org, id_number=unregistered.id_number, name=unregistered.name
        )
    with pytest.raises(IdentityError):  # name does not match the ID number
        services.agent_grant(
            acting_user=owner, organisation=org, id_number=target.person.id_number, name="冒名"
        )
    services.agent_grant(
        acting_user=owner, organisation=org, id_number=target.person.id_number, name=target.person.name
    )
    with pytest.raises(IdentityError) as err:
        services.agent_grant(
            acting_user=owner, organisation=org, id_number=target.person.id_number, name=target.person.name
        )
    assert err.value.code == "duplicate"


# ---- staff permissions per role and per department ---------------------------------------------------


@pytest.fixture
def two_departments():
    return DepartmentFactory(), DepartmentFactory()


@pytest.mark.parametrize(
    ("role", "perm", "expected"),
    [
        (ROLE.INTAKE_CLERK, Perm.CASE_ACCEPT, True),
        (ROLE.INTAKE_CLERK, Perm.CASE_DECIDE, False),
        (ROLE.REVIEWER, Perm.CASE_REVIEW, True),
        (ROLE.REVIEWER, Perm.CASE_ACCEPT, False),
        (ROLE.APPROVER, Perm.CASE_DECIDE, True),
        (ROLE.APPROVER, Perm.STAFF_MANAGE, False),
        (ROLE.DEPARTMENT_ADMIN, Perm.STAFF_MANAGE, True),
        (ROLE.DEPARTMENT_ADMIN, Perm.CASE_DECIDE, False),
        (ROLE.DATA_OFFICER, Perm.DATA_MANAGE, True),
        (ROLE.DATA_OFFICER, Perm.CASE_VIEW, False),
    ],
)
def test_role_grants_permission_only_in_its_department(two_departments, role, perm, expected):
    home, other = two_departments
    staff = StaffFactory(roles=[(home, role)])
    assert selectors.staff_has_perm(staff, perm, home) is expected
    assert selectors.staff_has_perm(staff, perm, other) is False


def test_platform_admin_has_every_permission_everywhere(two_departments):
    home, other = two_departments
    admin = StaffFactory(roles=[(home, ROLE.PLATFORM_ADMIN)])
    assert all(selectors.staff_has_perm(admin, perm, other) for perm in Perm)


def test_public_accounts_have_no_staff_permissions(two_departments):
    home, _ = two_departments
    citizen = UserFactory()
    StaffRole.objects.create(user=citizen, department=home, role=ROLE.APPROVER)  # even if mis-assigned
    assert not selectors.staff_has_perm(citizen, Perm.CASE_DECIDE, home)


def test_department_admin_grants_and_revokes_roles_in_own_department(two_departments):
    home, _ = two_departments
    admin = StaffFactory(roles=[(home, ROLE.DEPARTMENT_ADMIN)])
    clerk = StaffFactory()
    role = services.role_grant(acting_user=admin, staff_user=clerk, department=home, role=ROLE.INTAKE_CLERK)
    assert selectors.staff_has_perm(StaffFactory._meta.model.objects.get(pk=clerk.pk), Perm.CASE_ACCEPT, home)
    services.role_revoke(acting_user=admin, staff_role=role)
    assert not StaffRole.objects.filter(user=clerk).exists()
    kinds = list(AuditEvent.objects.filter(department=home).values_list("event_type", flat=True))
    assert sorted(kinds) == [AuditEventType.ROLE_GRANTED, AuditEventType.ROLE_REVOKED]


def test_department_admin_cannot_act_in_another_department_and_the_refusal_is_audited(two_departments):
    home, other = two_departments
    admin = StaffFactory(roles=[(home, ROLE.DEPARTMENT_ADMIN)])
    clerk = StaffFactory()
    with pytest.raises(NotPermitted) as err:
        services.role_grant(acting_user=admin, staff_user=clerk, department=other, role=ROLE.APPROVER)
    assert other.name in err.value.message
    assert not StaffRole.objects.filter(user=clerk).exists()
    denied = AuditEvent.objects.get(event_type=AuditEventType.PERMISSION_DENIED)
    assert denied.actor == admin and denied.department == other and denied.outcome == AuditOutcome.FAILURE


def test_department_admin_cannot_make_platform_admins(two_departments):
    home, _ = two_departments
    admin = StaffFactory(roles=[(home, ROLE.DEPARTMENT_ADMIN)])
    with pytest.raises(NotPermitted):
        services.role_grant(
            acting_user=admin, staff_user=StaffFactory(), department=home, role=ROLE.PLATFORM_ADMIN
        )


@pytest.mark.parametrize("role", [ROLE.INTAKE_CLERK, ROLE.REVIEWER, ROLE.APPROVER, ROLE.DATA_OFFICER])
def test_non_admin_roles_cannot_grant(two_departments, role):
    home, _ = two_departments
    staff = StaffFactory(roles=[(home, role)])
    with pytest.raises(NotPermitted):
        services.role_grant(acting_user=staff, staff_user=StaffFactory(), department=home, role=ROLE.REVIEWER)


def test_roles_only_for_staff_accounts_and_admin_cannot_revoke_own_admin_role(two_departments):
    home, _ = two_departments
    admin = StaffFactory(roles=[(home, ROLE.DEPARTMENT_ADMIN)])
    with pytest.raises(IdentityError):
        services.role_grant(acting_user=admin, staff_user=UserFactory(), department=home, role=ROLE.REVIEWER)
    own = StaffRole.objects.get(user=admin)
    with pytest.raises(IdentityError):
        services.role_revoke(acting_user=admin, staff_role=own)
    assert StaffRole.objects.filter(pk=own.pk).exists()


def test_staff_create_by_department_admin(two_departments):
    home, other = two_departments
    admin = StaffFactory(roles=[(home, ROLE.DEPARTMENT_ADMIN)])
    user = services.staff_create(
        acting_user=admin,
        username="New.Clerk",
        display_name="新同事",
        password="Long-enough-pass-1",
        department=home,
        roles=[StaffRoleName.INTAKE_CLERK],
    )
    assert user.username == "new.clerk" and user.account_type == AccountType.STAFF
    with pytest.raises(NotPermitted):
        services.staff_create(
            acting_user=admin,
            username="x.y",
            display_name="某人",
            password="Long-enough-pass-1",
            department=other,
            roles=[],
        )
    assert not User.objects.filter(username="x.y").exists()
