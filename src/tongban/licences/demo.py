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
    """Create or update the demo licence types; the issuer is the city's department of that sector."""
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
        created.append(licence_type)
    return created
