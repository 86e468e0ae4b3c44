"""The demo city's registries: every demo person and enterprise plus a few thousand generated residents and
companies, with a realistic share of seeded defects (about 3 %), the default quality rules, and one run, so
the quality dashboard and the correction ledger have something true to show."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.db import transaction
from django.utils import timezone

from tongban.core import codes
from tongban.identity.models import Department, Organisation, Person

from . import feed
from .models import LegalEntityRecord, PersonRecord, QualityRule, Registry, RegistryKind, RuleKind

MARITAL = ["10", "20", "20", "20", "21", "22", "30", "40"]
AREAS = ["339902", "339903", "339904", "339921", "339902001", "339903101"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚"

DEFAULT_RULES: list[tuple[str, str, str, str, str, dict[str, Any]]] = [
    # (registry kind, code, name, rule kind, field, params)
    (RegistryKind.POPULATION, "name-present", "姓名不能为空", RuleKind.COMPLETENESS, "name", {}),
    (RegistryKind.POPULATION, "birth-present", "出生日期不能为空", RuleKind.COMPLETENESS, "birth_date", {}),
    (RegistryKind.POPULATION, "id-valid", "身份号码格式与校验位", RuleKind.ID_NUMBER, "id_number", {}),
    (RegistryKind.POPULATION, "area-format", "户籍区划代码格式", RuleKind.AREA_CODE, "area_code", {}),
    (
        RegistryKind.POPULATION,
        "marital-code",
        "婚姻状况代码（GB/T 2261.2）",
        RuleKind.CODE_LIST,
        "marital_status",
        {"values": ["10", "20", "21", "22", "23", "30", "40", "90"]},
    ),
    (
        RegistryKind.POPULATION,
        "birth-range",
        "出生日期在合理范围",
        RuleKind.RANGE,
        "birth_date",
        {"min": "1900-01-01", "max": "today"},
    ),
    (RegistryKind.POPULATION, "birth-id", "出生日期与身份号码一致", RuleKind.BIRTH_MATCHES_ID, "", {}),
    (
        RegistryKind.POPULATION,
        "no-duplicates",
        "姓名、出生日期、区划重复",
        RuleKind.DUPLICATE,
        "",
        {"fields": ["name", "birth_date", "area_code"]},
    ),
    (RegistryKind.POPULATION, "fresh", "两年内有更新", RuleKind.TIMELINESS, "", {"days": 730}),
    (RegistryKind.LEGAL_ENTITY, "uscc-valid", "信用代码格式与校验位", RuleKind.USCC, "uscc", {}),
    (RegistryKind.LEGAL_ENTITY, "rep-alive", "法定代表人在人口库且在世", RuleKind.LEGAL_REP_ALIVE, "", {}),
    (
        RegistryKind.LEGAL_ENTITY,
        "rep-valid",
        "法定代表人身份号码",
        RuleKind.ID_NUMBER,
        "legal_rep_id_number",
        {},
    ),
    (RegistryKind.LEGAL_ENTITY, "name-present", "名称不能为空", RuleKind.COMPLETENESS, "name", {}),
]


def default_rules(registry: Registry) -> list[QualityRule]:
    return [
        QualityRule.objects.update_or_create(
            registry=registry,
            code=code,
            defaults={"name": name, "kind": kind, "field": field, "params": params},
        )[0]
        for registry_kind, code, name, kind, field, params in DEFAULT_RULES
        if registry_kind == registry.kind
    ]


def build_demo_registries(
    *, seed: int = 2026, residents: int = 3000, companies: int = 300
) -> tuple[Registry, Registry]:
    from . import quality

    rng = random.Random(seed)  # noqa: S311 (deterministic demo data, not security)
    police = Department.objects.get(code="ljs-gaj")
    market = Department.objects.get(code="ljs-scjgj")
    population, _ = Registry.objects.get_or_create(
        code="population",
        defaults={
            "name": "人口库",
            "kind": RegistryKind.POPULATION,
            "owner": police,
            "key_field": "id_number",
        },
    )
    entities, _ = Registry.objects.get_or_create(
        code="legal-entity",
        defaults={"name": "法人库", "kind": RegistryKind.LEGAL_ENTITY, "owner": market, "key_field": "uscc"},
    )
    now = timezone.now()
    people = []
    for person in Person.objects.all():
        parsed = codes.parse_resident_id(person.id_number)
        people.append(
            PersonRecord(
                id_number=person.id_number,
                name=person.name,
                sex=parsed.sex,
                birth_date=parsed.birth_date,
                ethnicity="01",
                household_address="临江市江城区滨江路88号",
                area_code=parsed.area_code,
                marital_status="20",
                phone=person.phone,
                updated_at=now,
                source="户籍系统",
            )
        )
    known = {p.id_number for p in people}
    for i in range(residents):
        born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(30000))
        area = rng.choice(AREAS)
        number = codes.make_resident_id(area[:6], born, rng.randrange(1, 999))
        if number in known:
            continue
        known.add(number)
        record = PersonRecord(
            id_number=number,
            name=rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
            sex="M" if int(number[16]) % 2 else "F",
            birth_date=born,
            ethnicity="01",
            household_address=f"临江市{area}路{i % 300}号",
            area_code=area,
            marital_status=rng.choice(MARITAL),
            status=PersonRecord.DECEASED if i % 97 == 0 else PersonRecord.LIVING,
            phone=f"139{i:08d}",
            updated_at=now,
            source="户籍系统",
        )
        # About 3 % of the generated residents carry one defect each, as legacy data does.
        defect = i % 33
        if defect == 1:
            record.id_number = number[:-1] + ("0" if number[-1] != "0" else "1")  # a mistyped check digit
        elif defect == 2:
            record.name = ""
        elif defect == 3:
            record.birth_date = born + dt.timedelta(days=1)  # disagrees with the ID number
        elif defect == 4:
            record.marital_status = "99"
        elif defect == 5:
            record.area_code = area[:4]
        elif defect == 6:
            record.updated_at = now - dt.timedelta(days=1200)
        elif defect == 7:
            record.birth_date = None
        elif defect == 8 and len(people) > 2:
            twin = people[-2]  # registered twice under two numbers: same name, birth date and area
            record.name, record.birth_date, record.area_code = twin.name, twin.birth_date, twin.area_code
        if defect == 1 and record.id_number in known:
            continue
        known.add(record.id_number)
        people.append(record)
    with transaction.atomic():
        _number(population, people)
        PersonRecord.objects.bulk_create(people, batch_size=2000, ignore_conflicts=True)
    living = [p.id_number for p in people if p.status == PersonRecord.LIVING and p.name]
    firms = [
        LegalEntityRecord(
            uscc=o.uscc,
            name=o.name,
            entity_type=o.get_org_type_display(),
            legal_rep_id_number=o.legal_representative.id_number if o.legal_representative else "",
            area_code=o.area.code if o.area else "339900",
            status="active",
            updated_at=now,
            source="市场监管",
        )
        for o in Organisation.objects.select_related("legal_representative", "area")
    ]
    for i in range(companies):
        uscc = codes.make_uscc("9", "1", rng.choice(AREAS)[:6], f"MA{i:06d}"[:8])
        rep = rng.choice(living)
        if i % 40 == 1:
            rep = codes.make_resident_id(
                "339902", dt.date(1970, 1, 1) + dt.timedelta(days=i), 998
            )  # not registered
        elif i % 40 == 2:
            uscc = uscc[:-1] + ("0" if uscc[-1] != "0" else "1")
        firms.append(
            LegalEntityRecord(
                uscc=uscc,
                name=f"临江{rng.choice(SURNAMES)}{rng.choice(GIVEN)}商贸有限公司{i}",
                entity_type="有限责任公司",
                legal_rep_id_number=rep,
                industry_code="F5191",
                area_code="339902",
                status="active",
                updated_at=now,
                source="市场监管",
            )
        )
    with transaction.atomic():
        _number(entities, firms)
        LegalEntityRecord.objects.bulk_create(firms, batch_size=2000, ignore_conflicts=True)
    for registry in (population, entities):
        default_rules(registry)
        quality.run_checks(registry)
    return population, entities


def _number(registry: Registry, records: list[Any]) -> None:
    """Give bulk-created records their change numbers, as every write does, so the change feed has them."""
    first = feed.allocate(registry, len(records))
    for offset, record in enumerate(records):
        record.seq = first + offset
