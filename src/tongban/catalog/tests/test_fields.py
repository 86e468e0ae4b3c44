"""The form field types (catalog.fields): properties over generated answers, and the declarations a form
may make."""

import datetime as dt
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tongban.catalog import fields
from tongban.catalog.demo_fields import FIELDS
from tongban.catalog.validation import check_form_schema
from tongban.core import codes
from tongban.testing import areas, org_bodies

TODAY = dt.date(2026, 6, 1)


def form(**props):
    return {"type": "object", "properties": props, "required": []}


def check(prop, value, **kwargs):
    return fields.check_answers(form(v=prop), {"v": value}, today=TODAY, **kwargs)


def refused(prop, value):
    return check(prop, value).problems.get("v")


ID = {"type": "string", "title": "公民身份号码", "format": "id-number"}
MOTHER = {**ID, "title": "母亲公民身份号码", "x-sex": "F"}
past = st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY)


@given(areas, past, st.integers(0, 999))
def test_generated_id_numbers_are_accepted(area, birth, seq):
    number = codes.make_resident_id(area, birth, seq)
    assert check(ID, number).values == {"v": number}
    assert check(ID, number.lower()).values == {"v": number}  # canonical form
    assert (refused(MOTHER, number) is None) == (seq % 2 == 0)  # a man's ID is refused as 母亲


@given(areas, past, st.integers(0, 999), st.integers(0, 17), st.integers(1, 9))
def test_any_single_digit_change_is_refused_naming_the_field(area, birth, seq, position, delta):
    number = codes.make_resident_id(area, birth, seq)
    if number[position] == "X":
        changed = number[:position] + str(delta)
    else:
        changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    message = refused(ID, changed)
    assert message is not None and message.startswith("“公民身份号码”：公民身份号码")


@given(st.dates(min_value=TODAY + dt.timedelta(days=1), max_value=dt.date(2099, 12, 31)), st.integers(0, 999))
def test_ids_born_in_the_future_are_refused(birth, seq):
    assert refused(ID, codes.make_resident_id("110101", birth, seq)) == (
        "“公民身份号码”：公民身份号码中的出生日期不在合理范围内。"
    )


@given(
    st.sampled_from(sorted(codes.USCC_AUTHORITIES)), areas, org_bodies, st.integers(0, 17), st.integers(1, 30)
)
def test_credit_codes_valid_accepted_and_any_change_refused(authority, area, body, position, delta):
    prop = {"type": "string", "title": "统一社会信用代码", "format": "uscc"}
    value = codes.make_uscc(authority, codes.USCC_AUTHORITIES[authority][0], area, body)
    assert check(prop, value).values == {"v": value}
    replacement = codes.USCC_ALPHABET[(codes.USCC_ALPHABET.index(value[position]) + delta) % 31]
    assert refused(prop, value[:position] + replacement + value[position + 1 :]).startswith(
        "“统一社会信用代码”："
    )


SAFE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp"), blacklist_characters="\x85"),
    max_size=60,
)
FORBIDDEN = st.sampled_from(
    [chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))]
    + ["\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))]
)
LINE = {"type": "string", "title": "姓名", "maxLength": 60}
MULTI = {"type": "string", "title": "事由", "maxLength": 500}


@given(SAFE_TEXT)
def test_ordinary_text_is_accepted(text):
    assert check(LINE, text).problems == {}


@given(SAFE_TEXT.filter(lambda t: len(t) <= 50), FORBIDDEN, st.data())
def test_any_control_or_bidi_character_is_refused(text, char, data):
    at = data.draw(st.integers(0, len(text)))
    value = "甲" + text[:at] + char + text[at:] + "乙"  # inside, where trimming cannot remove it
    assert refused(MULTI, value) == f"“事由”含有不允许的控制字符 U+{ord(char):04X}，请删除后重新填写。"
    line = (
        "“姓名”只能填写一行文字。"
        if char == "\r"
        else f"“姓名”含有不允许的控制字符 U+{ord(char):04X}，请删除后重新填写。"
    )
    assert refused(LINE, value) == line


def test_tab_and_newline_only_in_multi_line_text():
    assert refused(LINE, "甲\t乙") == "“姓名”只能填写一行文字。"
    assert refused(LINE, "甲\n乙") == "“姓名”只能填写一行文字。"
    assert check(MULTI, "甲\t乙\r\n丙").values == {"v": "甲\t乙\n丙"}
    assert refused(MULTI, "甲\r乙") == "“事由”含有不允许的控制字符 U+000D，请删除后重新填写。"


@given(st.integers(1, 300))
def test_every_text_has_a_length_limit(extra):
    assert refused(LINE, "甲" * 60) is None
    assert refused(LINE, "甲" * (60 + extra)) == "“姓名”不能超过 60 个字。"
    untyped = {"type": "string", "title": "备注"}
    assert refused(untyped, "甲" * fields.DEFAULT_MAX_LENGTH) is None
    assert refused(untyped, "甲" * (fields.DEFAULT_MAX_LENGTH + extra)) == "“备注”不能超过 200 个字。"
    area = {"type": "string", "title": "说明", "x-widget": "textarea"}
    assert refused(area, "甲" * (fields.DEFAULT_MULTILINE_MAX_LENGTH + extra)) == "“说明”不能超过 2000 个字。"


WEIGHT = {"type": "number", "title": "体重", "minimum": 0.5, "maximum": 8}
RANGE = "“体重”请填写 0.5–8 之间的数字。"


@given(st.floats(min_value=0.5, max_value=8))
def test_numbers_in_range_are_accepted(value):
    assert check(WEIGHT, value).values == {"v": value}


@given(st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: not (0.5 <= x <= 8)))
def test_numbers_out_of_range_or_not_finite_say_the_range(value):
    assert refused(WEIGHT, value) == RANGE


@pytest.mark.parametrize("value", [1e308, math.inf, -math.inf, math.nan, True, "3", None, [3]])
def test_not_a_number_in_range(value):
    problem = refused(WEIGHT, value)
    assert problem == RANGE or (value is None and problem is None)  # None: not answered


def test_integers_and_the_default_range():
    seats = {"type": "integer", "title": "餐位数", "minimum": 0}
    assert check(seats, 40.0).values == {"v": 40}
    assert refused(seats, 40.5) == "“餐位数”请填写 0–1000000000000 之间的整数。"
    assert refused(seats, 10**400) == "“餐位数”请填写 0–1000000000000 之间的整数。"
    assert refused({"type": "number", "title": "金额"}, 1e308) == (
        "“金额”请填写 -1000000000000–1000000000000 之间的数字。"
    )


BIRTH = {"type": "string", "title": "出生日期", "format": "date", "x-max-date": "today"}


@given(past)
def test_past_dates_accepted(day):
    assert check(BIRTH, day.isoformat()).values == {"v": day.isoformat()}


@given(st.dates(min_value=TODAY + dt.timedelta(days=1)))
def test_future_dates_refused_where_the_field_says_so(day):
    assert refused(BIRTH, day.isoformat()) == "“出生日期”不能晚于今天。"


@pytest.mark.parametrize("value", ["2030-13-41", "2023-02-29", "20240101", "2024-1-1", "２０２４-01-01", "x"])
def test_impossible_dates_refused(value):
    assert refused(BIRTH, value) == "“出生日期”不是真实的日期，请按“年-月-日”填写（如 2024-05-01）。"


def test_date_bounds():
    appointment = {"type": "string", "title": "预约日期", "format": "date", "x-min-date": "today"}
    assert refused(appointment, "2026-05-31") == "“预约日期”不能早于今天。"
    assert (
        refused({"type": "string", "title": "日期", "format": "date"}, "1850-01-01")
        == "“日期”不能早于 1900-01-01。"
    )


@pytest.mark.parametrize(
    ("fmt", "good", "bad", "words"),
    [
        ("mobile", "13912345678", "12912345678", "手机号码应以13至19开头"),
        ("phone", "0571-88888888", "0571-0888888", "电话号码应为11位手机号码"),
        ("postcode", "310000", "31000", "邮政编码应为6位数字"),
        ("area-code", "339902", "009902", "省级代码"),
        ("org-code", "D2143569X", "D21435691", "组织机构代码的校验码不正确"),
        ("vehicle-plate", "浙A12345", "浙I12345", "发牌机关代号"),
    ],
)
def test_every_national_code_format_uses_core_codes(fmt, good, bad, words):
    prop = {"type": "string", "title": "代码", "format": fmt}
    assert check(prop, good).problems == {}
    assert words in refused(prop, bad)


def test_enum_boolean_array_and_partial():
    sex = {"type": "string", "title": "性别", "enum": ["男", "女"]}
    assert refused(sex, "男\u202e") == "“性别”请从给定选项中选择。"
    assert refused({"type": "boolean", "title": "是否"}, "true") == "“是否”填写有误。"
    many = {"type": "array", "title": "项目", "items": {"type": "string", "enum": ["甲", "乙"]}}
    assert check(many, ["甲"]).problems == {}
    assert refused(many, ["丙"]) == "“项目”请从给定选项中选择。"
    assert refused(many, ["甲"] * 101) == "“项目”请从给定选项中选择。"
    required = {**form(v=LINE), "required": ["v"]}
    assert fields.check_answers(required, {}, today=TODAY).problems == {"v": "请填写“姓名”。"}
    assert fields.check_answers(required, {"v": "  "}, today=TODAY).problems == {"v": "请填写“姓名”。"}
    assert fields.check_answers(required, {}, today=TODAY, partial=True).problems == {}


def test_demo_fields_are_typed():
    for name, prop in FIELDS.items():
        if name.endswith("_id_number"):
            assert prop["format"] == "id-number", name
        if name.endswith("_name") or name in ("legal_representative",):
            assert prop.get("maxLength"), name
        if prop["type"] in ("number", "integer"):
            assert "minimum" in prop and "maximum" in prop, name
    assert FIELDS["mother_id_number"]["x-sex"] == "F" and FIELDS["father_id_number"]["x-sex"] == "M"
    assert check_form_schema(form(**FIELDS)) == []


@pytest.mark.parametrize(
    ("prop", "words"),
    [
        ({"format": "idcard"}, "未知的字段格式"),
        ({"format": "date", "x-sex": "F"}, "x-sex"),
        ({"format": "id-number", "x-sex": "W"}, "x-sex"),
        ({"format": "date", "x-max-date": "tomorrow"}, "x-max-date"),
        ({"maxLength": 10**7}, "maxLength"),
        ({"type": "number", "maximum": 1e308}, "有限的数"),
        ({"type": "number", "minimum": 8, "maximum": 0.5}, "minimum 不能大于 maximum"),
    ],
)
def test_form_declarations_are_checked(prop, words):
    problems = check_form_schema(form(v={"type": "string", "title": "字段", **prop}))
    assert any(words in p.message for p in problems), problems
