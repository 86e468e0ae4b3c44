"""The demo city's licence types (real-world kinds, type codes as in the demo catalogue) and a few issued
licences, so the wallet, verification and reuse have something true to show."""

from __future__ import annotations

from typing import Any

from tongban.catalog.demo_fields import LICENCE_TYPES as CODES
from tongban.identity.models import Department

from .constants import HolderCodeType
from .models import LicenceType

P, ORG = HolderCodeType.ID_NUMBER, HolderCodeType.USCC


def _schema(*fields: tuple[str, str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: {"type": "string", "title": title, "maxLength": 200} for name, title in fields},
        "required": list(required),
    }


# (name, issuing department code suffix, holder code type, validity years, face fields)
TYPES: list[tuple[str, str, str, int | None, tuple[tuple[str, str], ...]]] = [
    (
        "营业执照",
        "scjgj",
        ORG,
        None,
        (("shop_name", "名称"), ("legal_rep", "法定代表人"), ("address", "住所"), ("scope", "经营范围")),
    ),
    (
        "食品经营许可证",
        "scjgj",
        ORG,
        5,
        (
            ("shop_name", "经营者名称"),
            ("address", "经营场所"),
            ("main_business", "主体业态"),
            ("seats", "餐位数"),
        ),
    ),
    (
        "出生医学证明",
        "wjw",
        P,
        None,
        (
            ("baby_name", "新生儿姓名"),
            ("baby_sex", "性别"),
            ("birth_date", "出生日期"),
            ("birth_place", "出生地点"),
        ),
    ),
    ("户口登记", "gaj", P, None, (("household_address", "户籍地址"), ("relation", "与户主关系"))),
    ("社会保障卡", "rsj", P, 10, (("card_number", "社会保障号码"), ("bank", "金融账户开户行"))),
    (
        "不动产权证书",
        "zrzyj",
        P,
        None,
        (("location", "坐落"), ("area", "面积（平方米）"), ("use", "用途"), ("right_type", "权利类型")),
    ),
    ("机动车驾驶证", "gaj", P, 6, (("licence_class", "准驾车型"), ("first_issue", "初次领证日期"))),
    (
        "结婚证",
        "mzj",
        P,
        None,
        (("partner_name", "配偶姓名"), ("partner_id_number", "配偶身份证号"), ("marriage_date", "登记日期")),
    ),
    ("退休证", "rsj", P, None, (("employer", "原工作单位"), ("retire_date", "退休日期"))),
    (
        "公共场所卫生许可证",
        "wjw",
        ORG,
        4,
        (("shop_name", "单位名称"), ("address", "地址"), ("project", "许可项目")),
    ),
    ("居民身份证", "gaj", P, 20, (("address", "住址"), ("authority", "签发机关"))),
    ("死亡医学证明", "wjw", P, None, (("deceased_name", "死者姓名"), ("death_date", "死亡日期"))),
]


def licence_types() -> list[LicenceType]:
    """Create or update the demo licence types; the issuer, the only department that may issue the type,
    is the city's department of that sector."""
    created = []
    for name, suffix, holder, years, fields in TYPES:
        issuer = Department.objects.filter(code=f"ljs-{suffix}").first()
        licence_type, _created = LicenceType.objects.update_or_create(
            code=CODES[name],
            defaults={
                "name": name,
                "issuer": issuer,
                "holder_code_type": holder,
                "validity_years": years,
                "face_schema": _schema(*fields),
                "display_fields": [f for f, _t in fields],
            },
        )
        if issuer is not None:
            licence_type.issuers.add(issuer)  # the department with the authority to issue this type
        created.append(licence_type)
    return created


def build_demo_licences() -> list[Any]:
    """Seal keys for the issuing departments and licences for the first demo citizens and enterprise:
    valid ones, one suspended, one expired, one renewed — so the wallet and verification show each case."""
    import datetime as dt

    from tongban.identity.models import Organisation, User

    from . import services
    from .constants import Algorithm, LicenceStatus

    types = {t.name: t for t in licence_types()}
    for department in {t.issuer for t in types.values() if t.issuer is not None}:
        services.seal_key_create(acting_user=None, department=department, algorithm=Algorithm.SM2)
    citizens = list(User.objects.filter(account_type="public").select_related("person").order_by("pk")[:3])
    issued = []

    def issue(type_name: str, name: str, code: str, face: dict[str, Any], **extra: Any) -> Any:
        licence = services.licence_issue(
            acting_user=None,
            licence_type=types[type_name],
            holder_name=name,
            holder_code=code,
            face=face,
            **extra,
        )
        issued.append(licence)
        return licence

    for index, user in enumerate(citizens):
        person = user.person
        issue(
            "居民身份证",
            person.name,
            person.id_number,
            {"address": "临江市江城区滨江路88号", "authority": "临江市公安局江城分局"},
        )
        issue(
            "户口登记",
            person.name,
            person.id_number,
            {"household_address": "临江市江城区滨江路88号", "relation": "户主"},
        )
        issue(
            "社会保障卡",
            person.name,
            person.id_number,
            {"card_number": person.id_number, "bank": "临江农商银行"},
        )
        if index == 0:
            issue(
                "结婚证",
                person.name,
                person.id_number,
                {"partner_name": "林晓", "marriage_date": "2021-05-20"},
            )
            driving = issue(
                "机动车驾驶证",
                person.name,
                person.id_number,
                {"licence_class": "C1", "first_issue": "2016-08-01"},
                valid_from=dt.date(2016, 8, 1),
            )
            issued.append(
                services.licence_change(acting_user=None, licence=driving, renew=True, reason="有效期满换证")
            )
            issue(
                "不动产权证书",
                person.name,
                person.id_number,
                {
                    "location": "临江市东湖区梅林路12号3幢502室",
                    "area": "96.5",
                    "use": "住宅",
                    "right_type": "国有建设用地使用权/房屋所有权",
                },
            )
    organisation = Organisation.objects.order_by("pk").first()
    if organisation is not None:
        issue(
            "营业执照",
            organisation.name,
            organisation.uscc,
            {
                "shop_name": organisation.name,
                "legal_rep": citizens[1].person.name if len(citizens) > 1 else "",
                "address": "临江市江城区滨江路88号",
                "scope": "餐饮服务",
            },
        )
        issue(
            "食品经营许可证",
            organisation.name,
            organisation.uscc,
            {
                "shop_name": organisation.name,
                "address": "临江市江城区滨江路88号",
                "main_business": "餐饮服务经营者",
                "seats": "40",
            },
            valid_from=dt.date(2020, 3, 1),  # five years: expired since 2025-02-28, shown as such
        )
        hygiene = issue(
            "公共场所卫生许可证",
            organisation.name,
            organisation.uscc,
            {"shop_name": organisation.name, "address": "临江市江城区滨江路88号", "project": "餐饮"},
        )
        services.licence_set_status(
            acting_user=None,
            licence=hygiene,
            status=LicenceStatus.SUSPENDED,
            reason="卫生监督抽检不合格，整改期间暂停",
        )
    return issued
