import pytest

from tongban.identity.tests.factories import DepartmentFactory, UserFactory
from tongban.licences.constants import HolderCodeType
from tongban.licences.models import LicenceType

FOOD_FACE = {
    "type": "object",
    "properties": {
        "shop_name": {"type": "string", "title": "经营者名称"},
        "seats": {"type": "integer", "title": "餐位数", "minimum": 0},
    },
    "required": ["shop_name"],
}


@pytest.fixture
def market(db):
    return DepartmentFactory(code="ljs-scjgj", name="临江市市场监督管理局", short_name="市市场监管局")


@pytest.fixture
def person_type(db, market):
    return LicenceType.objects.create(
        code="110000000000000000008",
        name="结婚证",
        issuer=market,
        holder_code_type=HolderCodeType.ID_NUMBER,
        face_schema={
            "type": "object",
            "properties": {"partner_name": {"type": "string", "title": "配偶姓名"}},
            "required": ["partner_name"],
        },
    )


@pytest.fixture
def citizen(db):
    return UserFactory()


@pytest.fixture
def issued(person_type, citizen):
    from tongban.licences import services

    return services.licence_issue(
        acting_user=None,
        licence_type=person_type,
        holder_name=citizen.person.name,
        holder_code=citizen.person.id_number,
        face={"partner_name": "李四"},
    )
