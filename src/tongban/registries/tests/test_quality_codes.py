"""The ID-number and credit-code quality rules flag exactly what core.codes refuses, on both databases.

Codes are built from components with their check characters computed, valid ones and ones with a single
component wrong (area, birth date, authority, category, area, embedded organisation code, check
character, a character outside the alphabet, length, spelling); they are loaded into the registry tables,
the rule runs in the database, and the records it flags are compared with what core.codes says of each
value as stored: refused, or accepted only in another spelling."""

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tongban.core import codes
from tongban.identity.tests.factories import DepartmentFactory
from tongban.registries import quality
from tongban.registries.models import (
    LegalEntityRecord,
    PersonRecord,
    QualityIssue,
    QualityRule,
    QualityRun,
    Registry,
    RegistryKind,
    RegistryRecord,
    RuleKind,
)

pytestmark = pytest.mark.django_db

TODAY = dt.date.today()
DIGITS = "0123456789"
TWO_DIGITS = [f"{i:02d}" for i in range(100)]
PROVINCES = sorted(codes.PROVINCE_PREFIXES)
NOT_PROVINCES = sorted(set(TWO_DIGITS) - codes.PROVINCE_PREFIXES)
USCC_AREAS = sorted(codes.USCC_AREA_PREFIXES)
NOT_USCC_AREAS = sorted(set(TWO_DIGITS) - codes.USCC_AREA_PREFIXES)
ALPHABET = codes.USCC_ALPHABET
NOT_AUTHORITIES = sorted(set(ALPHABET) - set(codes.USCC_AUTHORITIES))
# Outside both alphabets: letters GB 32100 leaves out, lower case, full-width forms, punctuation, spaces,
# and characters that str.upper() turns into letters of the alphabet (ﬀ → FF, ﬂ → FL).
OUTSIDE = "IOSVZaxy -.\t１Ｘ中éﬀﬂ"
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def rejected_id(value: str) -> bool:
    """core.codes' verdict on a stored value: refused, or accepted only in another spelling."""
    try:
        return codes.parse_resident_id(value).number != value
    except codes.CodeError:
        return True


def rejected_uscc(value: str) -> bool:
    try:
        return codes.parse_uscc(value).code != value
    except codes.CodeError:
        return True


# ---- ID numbers ---------------------------------------------------------------------------------------


def with_id_check(first17: str) -> str:
    return first17 + codes.resident_id_check_char(first17)


def ymd(day: dt.date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"  # strftime's %Y drops the zeros before year 1000


digits = st.text(alphabet=DIGITS, min_size=1, max_size=1)
areas4 = st.text(alphabet=DIGITS, min_size=4, max_size=4)
sequences = st.text(alphabet=DIGITS, min_size=3, max_size=3)
births = st.dates(min_value=dt.date(1800, 1, 1), max_value=TODAY)


@st.composite
def valid_ids(draw) -> str:
    born = draw(births)
    return with_id_check(f"{draw(st.sampled_from(PROVINCES))}{draw(areas4)}{ymd(born)}{draw(sequences)}")


@st.composite
def broken_ids(draw) -> str:
    """One component wrong, the check character recomputed where the rest allows it."""
    kind = draw(
        st.sampled_from(["area", "date", "future", "old", "check", "outside", "length", "lower", "any"])
    )
    if kind == "area":
        return with_id_check(
            f"{draw(st.sampled_from(NOT_PROVINCES))}{draw(areas4)}{ymd(draw(births))}{draw(sequences)}"
        )
    if kind == "date":  # months and days around the edges: 00, 13, 29 February, 31 April, 32 …
        year = draw(st.integers(0, 9999))
        month = draw(st.sampled_from([0, 1, 2, 4, 6, 9, 11, 12, 13, 20, 99]))
        day = draw(st.sampled_from([0, 1, 28, 29, 30, 31, 32, 40, 99]))
        first17 = f"{draw(st.sampled_from(PROVINCES))}{draw(areas4)}{year:04d}{month:02d}{day:02d}"
        return with_id_check(first17 + draw(sequences))
    if kind in ("future", "old"):
        born = draw(
            st.dates(min_value=TODAY + dt.timedelta(days=1))
            if kind == "future"
            else st.dates(max_value=dt.date(1799, 12, 31))
        )
        return with_id_check(f"{draw(st.sampled_from(PROVINCES))}{draw(areas4)}{ymd(born)}{draw(sequences)}")
    good = draw(valid_ids())
    if kind == "check":
        return good[:17] + draw(st.sampled_from([c for c in codes.ID_CHECK_CHARS if c != good[17]]))
    if kind == "outside":
        at = draw(st.integers(0, 17))
        return good[:at] + draw(st.sampled_from(OUTSIDE + "X")) + good[at + 1 :]
    if kind == "length":
        return good[: draw(st.integers(0, 17))]
    if kind == "lower":
        return good.lower()  # only changes one whose check character is X
    return draw(st.text(alphabet=DIGITS + "Xx" + OUTSIDE, max_size=18))


# ---- credit codes -------------------------------------------------------------------------------------

PAIRS = sorted(a + c for a, categories in codes.USCC_AUTHORITIES.items() for c in categories)
bodies = st.text(alphabet=ALPHABET, min_size=8, max_size=8)
uscc_areas = st.builds(lambda prefix, rest: prefix + rest, st.sampled_from(USCC_AREAS), areas4)


def with_uscc_check(first17: str) -> str:
    return first17 + codes.uscc_check_char(first17)


@st.composite
def valid_usccs(draw) -> str:
    pair = draw(st.sampled_from(PAIRS))
    return codes.make_uscc(pair[0], pair[1], draw(uscc_areas), draw(bodies))


@st.composite
def broken_usccs(draw) -> str:
    """One component wrong, both check characters computed over the rest where the alphabet allows it."""
    kind = draw(
        st.sampled_from(
            [
                "authority",
                "category",
                "area",
                "area_letter",
                "org_check",
                "check",
                "outside",
                "length",
                "lower",
                "any",
            ]
        )
    )
    pair = draw(st.sampled_from(PAIRS))
    area, body = draw(uscc_areas), draw(bodies)
    if kind == "authority":
        return codes.make_uscc(
            draw(st.sampled_from(NOT_AUTHORITIES)), draw(st.sampled_from(ALPHABET)), area, body
        )
    if kind == "category":
        authority = pair[0]
        others = [c for c in ALPHABET if c not in codes.USCC_AUTHORITIES[authority]]
        return codes.make_uscc(authority, draw(st.sampled_from(others)), area, body)
    if kind == "area":
        return codes.make_uscc(pair[0], pair[1], draw(st.sampled_from(NOT_USCC_AREAS)) + area[2:], body)
    if kind == "area_letter":
        at = draw(st.integers(0, 5))
        letter = draw(st.sampled_from([c for c in ALPHABET if not c.isdigit()]))
        return codes.make_uscc(pair[0], pair[1], area[:at] + letter + area[at + 1 :], body)
    if kind == "org_check":  # a wrong 17th character under a right 18th
        right = codes.org_code_check_char(body)
        wrong = draw(st.sampled_from([c for c in ALPHABET if c != right]))
        return with_uscc_check(pair + area + body + wrong)
    good = codes.make_uscc(pair[0], pair[1], area, body)
    if kind == "check":
        return good[:17] + draw(st.sampled_from([c for c in ALPHABET if c != good[17]]))
    if kind == "outside":
        at = draw(st.integers(0, 17))
        return good[:at] + draw(st.sampled_from(OUTSIDE)) + good[at + 1 :]
    if kind == "length":
        return good[: draw(st.integers(0, 17))]
    if kind == "lower":
        return good.lower()
    return draw(st.text(alphabet=ALPHABET + OUTSIDE, max_size=18))


# ---- the registries and the run ---------------------------------------------------------------------


@pytest.fixture
def registries():
    owner = DepartmentFactory(code="ljs-gaj")
    population = Registry.objects.create(
        code="population", name="人口库", kind=RegistryKind.POPULATION, owner=owner, key_field="id_number"
    )
    entities = Registry.objects.create(
        code="legal-entity", name="法人库", kind=RegistryKind.LEGAL_ENTITY, owner=owner, key_field="uscc"
    )
    # An operator-defined registry holds the values in JSON, longer ones too (spaces around a valid code).
    custom = Registry.objects.create(
        code="holders",
        name="持证人库",
        kind=RegistryKind.CUSTOM,
        owner=owner,
        key_field="key",
        schema={"type": "object", "properties": {"id_number": {}, "uscc": {}}},
    )
    QualityRule.objects.create(
        registry=population, code="id", name="id", kind=RuleKind.ID_NUMBER, field="id_number"
    )
    QualityRule.objects.create(registry=entities, code="uscc", name="uscc", kind=RuleKind.USCC, field="uscc")
    QualityRule.objects.create(
        registry=custom, code="custom-id", name="custom-id", kind=RuleKind.ID_NUMBER, field="id_number"
    )
    QualityRule.objects.create(
        registry=custom, code="custom-uscc", name="custom-uscc", kind=RuleKind.USCC, field="uscc"
    )
    return population, entities, custom


def flagged(registry: Registry, rule: str) -> set[str]:
    quality.run_checks(registry)
    return set(
        QualityIssue.objects.filter(rule__registry=registry, rule__code=rule, status="open").values_list(
            "record_key", flat=True
        )
    )


def _clear() -> None:
    QualityIssue.objects.all().delete()
    QualityRun.objects.all().delete()
    PersonRecord.objects.all().delete()
    LegalEntityRecord.objects.all().delete()
    RegistryRecord.objects.all().delete()


def check_ids(population: Registry, custom: Registry, values: list[str]) -> None:
    _clear()
    values = list(dict.fromkeys(values))
    PersonRecord.objects.bulk_create([PersonRecord(id_number=v, name="居民") for v in values if len(v) <= 18])
    expected = {v for v in values if v and len(v) <= 18 and rejected_id(v)}
    assert flagged(population, "id") == expected
    # In JSON, with spaces around some values (accepted by the parser, but not as stored).
    padded = values + [f" {v}" for v in values[:3]] + [f"{v}\n" for v in values[3:5]]
    RegistryRecord.objects.bulk_create(
        [RegistryRecord(registry=custom, key=str(i), data={"id_number": v}) for i, v in enumerate(padded)]
    )
    expected = {str(i) for i, v in enumerate(padded) if v and rejected_id(v)}
    assert flagged(custom, "custom-id") == expected


def check_usccs(entities: Registry, custom: Registry, values: list[str]) -> None:
    _clear()
    values = list(dict.fromkeys(values))
    LegalEntityRecord.objects.bulk_create(
        [LegalEntityRecord(uscc=v, name="企业") for v in values if len(v) <= 18]
    )
    expected = {v for v in values if v and len(v) <= 18 and rejected_uscc(v)}
    assert flagged(entities, "uscc") == expected
    padded = values + [f" {v}" for v in values[:3]] + [f"{v}0" for v in values[3:5]]
    RegistryRecord.objects.bulk_create(
        [RegistryRecord(registry=custom, key=str(i), data={"uscc": v}) for i, v in enumerate(padded)]
    )
    expected = {str(i) for i, v in enumerate(padded) if v and rejected_uscc(v)}
    assert flagged(custom, "custom-uscc") == expected


@SETTINGS
@given(st.lists(st.one_of(valid_ids(), broken_ids()), min_size=1, max_size=40))
def test_id_rule_flags_exactly_what_core_codes_refuses(registries, values):
    population, _, custom = registries
    check_ids(population, custom, values)


@SETTINGS
@given(st.lists(st.one_of(valid_usccs(), broken_usccs()), min_size=1, max_size=40))
def test_uscc_rule_flags_exactly_what_core_codes_refuses(registries, values):
    _, entities, custom = registries
    check_usccs(entities, custom, values)


@given(valid_ids())
def test_generated_id_numbers_are_valid(value):
    assert not rejected_id(value)


@given(valid_usccs())
def test_generated_credit_codes_are_valid(value):
    assert not rejected_uscc(value)


# One code for each check core.codes makes, named by the check that refuses it.
BODY = "MA2ABCD0"
GOOD_USCC = codes.make_uscc("9", "1", "339902", BODY)
WRONG_ORG = "0" if codes.org_code_check_char(BODY) != "0" else "1"
USCC_CASES = [
    (GOOD_USCC, None),
    ("91350100M000100Y43", None),  # GB 32100's own example
    ("914403001922038216", None),
    (codes.make_uscc("5", "1", "100000", BODY), None),  # national level
    (GOOD_USCC[:17], "length"),
    (GOOD_USCC[:17] + "I", "alphabet"),
    (GOOD_USCC.replace("MA", "ma"), None),  # accepted, but not as stored
    (codes.make_uscc("B", "1", "339902", BODY), "authority"),
    (codes.make_uscc("9", "4", "339902", BODY), "category"),
    (codes.make_uscc("Y", "2", "339902", BODY), "category"),
    (codes.make_uscc("9", "1", "990000", BODY), "area"),
    (codes.make_uscc("9", "1", "3399A2", BODY), "area"),
    (with_uscc_check("91339902" + BODY + WRONG_ORG), "org_checksum"),
    (with_uscc_check("91339902" + BODY + "A"), "org_checksum"),
    (GOOD_USCC[:17] + ("0" if GOOD_USCC[17] != "0" else "1"), "checksum"),
]
GOOD_ID = codes.make_resident_id("339902", dt.date(1980, 1, 1), 1)
ID_CASES = [
    (GOOD_ID, None),
    ("11010519491231002X", None),
    ("11010519491231002x", None),  # accepted, but not as stored
    (with_id_check("11010520000229001"), None),  # a leap day
    (GOOD_ID[:17], "length"),
    ("3399021980010100１X", "format"),
    (with_id_check("99990219800101001"), "area"),
    (with_id_check("33990219801301001"), "birth_date"),
    (with_id_check("33990219000229001"), "birth_date"),  # 1900 was not a leap year
    (with_id_check("33990219800431001"), "birth_date"),
    (with_id_check("33990217991231001"), "birth_date"),
    (with_id_check(f"339902{TODAY + dt.timedelta(days=1):%Y%m%d}001"), "birth_date"),
    (GOOD_ID[:17] + ("0" if GOOD_ID[17] != "0" else "1"), "checksum"),
]


def _reason(parse, value: str) -> str | None:
    try:
        parse(value)
    except codes.CodeError as err:
        return err.code
    return None


def test_each_check_of_core_codes_is_a_check_of_the_rules(registries):
    population, entities, custom = registries
    assert [_reason(codes.parse_uscc, v) for v, _ in USCC_CASES] == [reason for _, reason in USCC_CASES]
    assert [_reason(codes.parse_resident_id, v) for v, _ in ID_CASES] == [reason for _, reason in ID_CASES]
    check_usccs(entities, custom, [v for v, _ in USCC_CASES])
    assert GOOD_USCC not in flagged(entities, "uscc") and GOOD_USCC.replace("MA", "ma") in flagged(
        entities, "uscc"
    )
    check_ids(population, custom, [v for v, _ in ID_CASES])
    assert flagged(population, "id") == {v for v, reason in ID_CASES if reason} | {"11010519491231002x"}


def test_the_rules_use_core_codes_constants():
    """One definition: quality.py has no copy of a code table."""
    import inspect

    source = inspect.getsource(quality)
    for table in (
        codes.USCC_ALPHABET,
        codes.ID_CHECK_CHARS,
        codes.ORG_CHECK_CHARS,
        "7, 9, 10, 5, 8",
        "1, 3, 9, 27",
    ):
        assert table not in source
