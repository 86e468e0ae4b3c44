"""factory_boy factories for identity, with traits for the usual states."""

import datetime as dt
import itertools

import factory
from django_otp.plugins.otp_totp.models import TOTPDevice

from tongban.core import codes
from tongban.identity.constants import AccountType, AreaLevel, OrganisationType, RealNameLevel, StaffRoleName
from tongban.identity.models import Area, Department, Organisation, OrganisationAgent, Person, StaffRole, User

PASSWORD = "Correct-Horse-42"
_id_seq = itertools.count(1)
_org_seq = itertools.count(1)


def _next_id_number() -> str:
    n = next(_id_seq)
    return codes.make_resident_id(
        "339902", dt.date(1980, 1, 1) + dt.timedelta(days=n // 400), n % 400 * 2 + 1
    )


def _next_uscc(authority: str = "9", category: str = "1") -> str:
    return codes.make_uscc(authority, category, "339902", f"{next(_org_seq):08d}")


class AreaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Area
        django_get_or_create = ("code",)

    code = "339902"
    name = "江城区"
    level = AreaLevel.COUNTY


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department

    code = factory.Sequence(lambda n: f"dept-{n}")
    name = factory.Sequence(lambda n: f"临江市第{n}局")
    short_name = factory.Sequence(lambda n: f"第{n}局")
    sector = "市场监管"
    uscc = factory.LazyFunction(lambda: _next_uscc("1", "1"))
    area = factory.SubFactory(AreaFactory)
    level = AreaLevel.CITY


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Person

    name = factory.Sequence(lambda n: f"测试{n}")
    id_number = factory.LazyFunction(_next_id_number)
    phone = factory.Sequence(lambda n: f"139{n:08d}")
    real_name_level = RealNameLevel.REGISTRY_VERIFIED


class UserFactory(factory.django.DjangoModelFactory):
    """A public account with its person; log in with ``user.username`` and PASSWORD."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    person = factory.SubFactory(PersonFactory)
    username = factory.LazyAttribute(lambda o: o.person.id_number)
    display_name = factory.LazyAttribute(lambda o: o.person.name)
    phone = factory.LazyAttribute(lambda o: o.person.phone)
    account_type = AccountType.PUBLIC
    password = factory.django.Password(PASSWORD)


class StaffFactory(factory.django.DjangoModelFactory):
    """A staff account; ``StaffFactory(roles=[(dept, role)], totp=True)``."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff.{n}")
    display_name = factory.Sequence(lambda n: f"工作人员{n}")
    account_type = AccountType.STAFF
    person = None
    phone = None
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        for department, role in extracted or []:
            StaffRole.objects.create(user=self, department=department, role=role)

    @factory.post_generation
    def totp(self, create, extracted, **kwargs):
        if extracted:
            TOTPDevice.objects.create(user=self, name="test", confirmed=True)


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    uscc = factory.LazyFunction(_next_uscc)
    name = factory.Sequence(lambda n: f"临江测试{n}有限公司")
    org_type = OrganisationType.ENTERPRISE
    legal_representative = factory.SubFactory(PersonFactory)


class OrganisationAgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrganisationAgent

    organisation = factory.SubFactory(OrganisationFactory)
    person = factory.SubFactory(PersonFactory)
    granted_by = factory.SubFactory(UserFactory)


ROLE = StaffRoleName
