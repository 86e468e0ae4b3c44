"""Building blocks for the demo catalogue: form fields, workflow shapes, themes, licence type codes."""

from __future__ import annotations

from typing import Any

S = "string"


def f(title: str, type_: str = S, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "title": title, **extra}


# Typed fields (catalog.fields): codes by their national standard, names and texts with a length, numbers
# with their range, dates of past events not after today.
ID = {"format": "id-number"}
NAME = {"maxLength": 60}  # as identity's names
PAST = {"format": "date", "x-max-date": "today"}
FIELDS: dict[str, dict[str, Any]] = {
    # the applicant, prefilled from identity
    "applicant_name": f("申请人姓名", **NAME, **{"x-prefill": "person.name"}),
    "applicant_id_number": f("申请人公民身份号码", **ID, **{"x-prefill": "person.id_number"}),
    "applicant_phone": f("联系电话", format="mobile", **{"x-prefill": "person.phone"}),
    "org_name": f("单位名称", maxLength=100, **{"x-prefill": "organisation.name"}),
    "org_uscc": f("统一社会信用代码", format="uscc", **{"x-prefill": "organisation.uscc"}),
    "org_address": f("住所", **{"x-prefill": "organisation.address"}),
    "legal_representative": f("法定代表人", **NAME, **{"x-prefill": "organisation.legal_representative"}),
    # births
    "baby_name": f("新生儿姓名", maxLength=20),
    "baby_sex": f("新生儿性别", enum=["男", "女"]),
    "baby_birth_date": f("出生日期", **PAST),
    "birth_place": f("出生地点（医疗机构）"),
    "birth_weight_g": f("出生体重（克）", "integer", minimum=300, maximum=8000),
    "mother_name": f("母亲姓名", **NAME),
    "mother_id_number": f("母亲公民身份号码", **ID, **{"x-sex": "F"}),
    "father_name": f("父亲姓名", **NAME),
    "father_id_number": f("父亲公民身份号码", **ID, **{"x-sex": "M"}),
    "household_address": f("户籍地址"),
    "guardian_relation": f("申请人与新生儿关系", enum=["父亲", "母亲", "其他监护人"]),
    "bank_account": f(
        "社会保障卡金融账户开户银行", enum=["工商银行", "农业银行", "中国银行", "建设银行", "临江农商银行"]
    ),
    # businesses
    "shop_name": f("店铺名称", maxLength=100),
    "business_address": f("经营场所地址"),
    "business_scope": f("经营范围"),
    "food_categories": f(
        "经营项目",
        "array",
        items={
            "type": "string",
            "enum": ["热食类食品制售", "冷食类食品制售", "生食类食品制售", "糕点类食品制售", "自制饮品制售"],
        },
    ),
    "floor_area_m2": f("经营场所面积（平方米）", "number", minimum=1, maximum=100000),
    "seats": f("餐位数", "integer", minimum=0, maximum=10000),
    "registered_capital": f("注册资本（万元）", "number", minimum=0, maximum=100000000),
    "company_type": f("企业类型", enum=["有限责任公司", "股份有限公司", "个人独资企业", "合伙企业"]),
    "employees": f("从业人员数", "integer", minimum=0, maximum=1000000),
    "employer_name": f("用人单位名称", maxLength=200),
    "need_seal": f("是否需要免费刻制公章", "boolean"),
    "need_invoice": f("是否申领发票", "boolean"),
    "project_name": f("项目名称", maxLength=100),
    "project_address": f("项目地址"),
    "building_area_m2": f("建筑面积（平方米）", "number", minimum=1, maximum=10000000),
    "vehicle_plate": f("车辆号牌", format="vehicle-plate"),
    "licence_number": f("证件号码"),
    # life and family
    "partner_name": f("另一方姓名", **NAME),
    "partner_id_number": f("另一方公民身份号码", **ID),
    "marriage_date": f("登记日期", format="date"),
    "retirement_date": f("退休日期", format="date"),
    "work_years": f("累计缴费年限", "integer", minimum=0, maximum=60),
    "deceased_name": f("逝者姓名", **NAME),
    "deceased_id_number": f("逝者公民身份号码", **ID),
    "death_date": f("死亡日期", **PAST),
    "death_place": f("死亡地点"),
    "relationship": f("申请人与逝者关系", enum=["配偶", "子女", "父母", "其他亲属"]),
    "reason": f("申请事由", maxLength=500),
    "school_name": f("学校名称", maxLength=100),
    "grade": f("年级", enum=["一年级", "七年级"]),
    "property_address": f("不动产坐落"),
    "property_certificate": f("不动产权证书号"),
    "amount": f("申请金额（元）", "number", minimum=0, maximum=100000000),
    "disability_type": f("残疾类别", enum=["视力", "听力", "言语", "肢体", "智力", "精神", "多重"]),
    "household_size": f("家庭人口数", "integer", minimum=1, maximum=20),
    "monthly_income": f("家庭月收入（元）", "number", minimum=0, maximum=10000000),
    "pollutants": f("主要污染物"),
    "route": f("运输线路"),
}

PERSON = ["applicant_name", "applicant_id_number", "applicant_phone"]
ORG = ["org_name", "org_uscc", "org_address", "legal_representative", "applicant_name", "applicant_phone"]


def schema(fields: list[str], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: FIELDS[name] for name in fields},
        "required": required if required is not None else fields,
    }


def step(
    key: str,
    kind: str,
    role: str,
    department: str = "$self",
    after: list[str] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    names = {"accept": "受理", "review": "审查", "decide": "决定", "close": "办结"}
    result: dict[str, Any] = {
        "key": key,
        "name": name or names[kind],
        "kind": kind,
        "department": department,
        "role": role,
    }
    if after:
        result["after"] = after
    return result


def simple() -> dict[str, Any]:
    return {
        "steps": [
            step("accept", "accept", "intake_clerk"),
            step("review", "review", "reviewer", after=["accept"]),
            step("decide", "decide", "approver", after=["review"]),
            step("close", "close", "intake_clerk", after=["decide"]),
        ]
    }


def instant() -> dict[str, Any]:
    return {
        "steps": [
            step("accept", "accept", "intake_clerk"),
            step("decide", "decide", "approver", after=["accept"]),
            step("close", "close", "intake_clerk", after=["decide"]),
        ]
    }


def parallel(*departments: tuple[str, str]) -> dict[str, Any]:
    """Intake, then reviews at the same time in the own and the listed departments (并联审批), then decision."""
    reviews = [step("review", "review", "reviewer", after=["accept"])] + [
        step(f"review_{key}", "review", "reviewer", department=dept, after=["accept"], name=f"{label}审查")
        for key, dept, label in ((d.split("-")[-1], d, label) for d, label in departments)
    ]
    return {
        "steps": [
            step("accept", "accept", "intake_clerk"),
            *reviews,
            step("decide", "decide", "approver", after=[r["key"] for r in reviews]),
            step("close", "close", "intake_clerk", after=["decide"]),
        ]
    }


THEMES = [
    # (code, name, kind, audience)
    ("birth", "生育收养", "theme", "person"),
    ("household", "户籍办理", "theme", "person"),
    ("social-security", "社会保障", "theme", "person"),
    ("medical", "医疗卫生", "theme", "person"),
    ("employment", "就业创业", "theme", "person"),
    ("education", "教育科研", "theme", "person"),
    ("marriage", "婚姻登记", "theme", "person"),
    ("housing", "住房保障", "theme", "person"),
    ("transport", "交通出行", "theme", "person"),
    ("pension", "退休养老", "theme", "person"),
    ("funeral", "死亡殡葬", "theme", "person"),
    ("assistance", "社会救助", "theme", "person"),
    ("stage-birth", "出生", "life_stage", "person"),
    ("stage-school", "上学", "life_stage", "person"),
    ("stage-work", "工作", "life_stage", "person"),
    ("stage-marriage", "婚育", "life_stage", "person"),
    ("stage-retire", "退休", "life_stage", "person"),
    ("stage-after", "身后", "life_stage", "person"),
    ("start-business", "企业开办", "theme", "organisation"),
    ("operating-licence", "经营许可", "theme", "organisation"),
    ("tax", "税费缴纳", "theme", "organisation"),
    ("construction", "工程建设", "theme", "organisation"),
    ("environment", "环境保护", "theme", "organisation"),
    ("employment-org", "招工用工", "theme", "organisation"),
    ("stage-open", "开办", "life_stage", "organisation"),
    ("stage-operate", "经营", "life_stage", "organisation"),
    ("stage-close", "注销", "life_stage", "organisation"),
]

# Licence types the demo items produce or accept (21-character type codes; issue 5 gives them schemas).
LICENCE_TYPES = {
    "营业执照": "110000000000000000001",
    "食品经营许可证": "110000000000000000002",
    "出生医学证明": "110000000000000000003",
    "户口登记": "110000000000000000004",
    "社会保障卡": "110000000000000000005",
    "不动产权证书": "110000000000000000006",
    "机动车驾驶证": "110000000000000000007",
    "结婚证": "110000000000000000008",
    "退休证": "110000000000000000009",
    "公共场所卫生许可证": "110000000000000000010",
    "居民身份证": "110000000000000000011",
    "建筑工程施工许可证": "110000000000000000012",
    "排污许可证": "110000000000000000013",
    "道路运输经营许可证": "110000000000000000014",
    "残疾人证": "110000000000000000015",
    "死亡医学证明": "110000000000000000016",
}
