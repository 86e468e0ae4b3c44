"""National code validators: known real examples, every failing check, and properties over generated codes."""

import contextlib
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tongban.core import codes
from tongban.testing import areas, org_bodies

# Examples printed in the standards themselves, and codes of well-known enterprises.
REAL_ID_NUMBERS = ["11010519491231002X", "440524188001010014"]
REAL_USCC = [
    "91350100M000100Y43",  # GB 32100-2015's own example
    "914403001922038216",  # 华为技术有限公司
    "91330100799655058B",  # 阿里巴巴（中国）有限公司
    "9144030071526726XG",  # 深圳市腾讯计算机系统有限公司
]


@pytest.mark.parametrize("number", REAL_ID_NUMBERS)
def test_real_id_numbers_are_valid(number):
    assert codes.parse_resident_id(number).number == number


def test_id_number_details():
    rid = codes.parse_resident_id("11010519491231002x")  # lower-case x accepted and normalised
    assert rid.number == "11010519491231002X"
    assert rid.birth_date == dt.date(1949, 12, 31)
    assert rid.sex == "F"
    assert rid.area_code == "110105"
    assert rid.masked == "110105********002X"


@pytest.mark.parametrize(
    ("value", "code", "words"),
    [
        ("1101051949123100", "length", "18位"),
        ("11010519491231002Y", "format", "数字或X"),
        ("99010519491231002X", "area", "地址码"),
        ("110105194913310021", "birth_date", "出生日期"),
        ("110105194902300021", "birth_date", "出生日期"),
        ("110105299912310021", "birth_date", "出生日期"),
        ("110105194912310021", "checksum", "校验码"),
    ],
)
def test_id_number_errors_name_the_failed_check(value, code, words):
    with pytest.raises(codes.CodeError) as err:
        codes.parse_resident_id(value)
    assert err.value.code == code
    assert words in str(err.value)


dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2025, 12, 31))


@given(areas, dates, st.integers(min_value=0, max_value=999))
def test_generated_id_numbers_round_trip(area, birth, seq):
    number = codes.make_resident_id(area, birth, seq)
    rid = codes.parse_resident_id(number)
    assert rid.birth_date == birth
    assert rid.sex == ("M" if seq % 2 else "F")


@given(
    areas,
    dates,
    st.integers(min_value=0, max_value=999),
    st.integers(min_value=0, max_value=16),
    st.integers(min_value=1, max_value=9),
)
def test_any_single_digit_change_is_caught(area, birth, seq, position, delta):
    number = codes.make_resident_id(area, birth, seq)
    digit = (int(number[position]) + delta) % 10
    changed = number[:position] + str(digit) + number[position + 1 :]
    with pytest.raises(codes.CodeError):
        codes.parse_resident_id(changed)


@pytest.mark.parametrize("value", REAL_USCC)
def test_real_credit_codes_are_valid(value):
    cc = codes.parse_uscc(value)
    assert cc.code == value
    assert len(cc.org_code) == 9


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("91350100M000100Y4", "length"),
        ("91350100M000100YI3", "alphabet"),  # I is not in the alphabet
        ("B1350100M000100Y43", "authority"),
        ("97350100M000100Y43", "category"),
        ("91AB0100M000100Y43", "area"),
        ("91350100M000100S43", "alphabet"),  # S is not in the USCC alphabet either
        ("91350100M000100Y44", "checksum"),
    ],
)
def test_credit_code_errors(value, code):
    with pytest.raises(codes.CodeError) as err:
        codes.parse_uscc(value)
    assert err.value.code == code


def test_credit_code_with_bad_embedded_org_code_is_refused_even_when_outer_check_matches():
    body = "M0001001"  # correct org check would be org_code_check_char(body)
    bad_check = "0" if codes.org_code_check_char(body) != "0" else "1"
    first17 = f"91350100{body}{bad_check}"
    forged = first17 + codes.uscc_check_char(first17)
    with pytest.raises(codes.CodeError) as err:
        codes.parse_uscc(forged)
    assert err.value.code == "org_checksum"
    assert "组织机构代码" in str(err.value)


@given(st.sampled_from(sorted(codes.USCC_AUTHORITIES)), areas, org_bodies, st.data())
def test_generated_credit_codes_round_trip(authority, area, body, data):
    category = data.draw(st.sampled_from(codes.USCC_AUTHORITIES[authority]))
    value = codes.make_uscc(authority, category, area, body)
    assert codes.parse_uscc(value).org_code == body + codes.org_code_check_char(body)


@given(
    st.sampled_from(sorted(codes.USCC_AUTHORITIES)), areas, org_bodies, st.integers(0, 17), st.integers(1, 30)
)
def test_any_single_character_change_in_credit_code_is_caught(authority, area, body, position, delta):
    value = codes.make_uscc(authority, codes.USCC_AUTHORITIES[authority][0], area, body)
    replacement = codes.USCC_ALPHABET[(codes.USCC_ALPHABET.index(value[position]) + delta) % 31]
    changed = value[:position] + replacement + value[position + 1 :]
    with pytest.raises(codes.CodeError):
        codes.parse_uscc(changed)


def test_org_check_table_is_the_formula_of_gb_11714():
    # DESIGN.md: 11 − Σ mod 11, 10 → X, 11 → 0; the table is read at Σ mod 11 (as the SQL rule does).
    for residue in range(11):
        check = 11 - residue
        assert codes.ORG_CHECK_CHARS[residue] == {10: "X", 11: "0"}.get(check, str(check))
    assert codes.ORG_ALPHABET.index("A") == 10 and codes.ORG_ALPHABET.index("Z") == 35


def test_id_birth_date_bounds():
    earliest = codes.ID_EARLIEST_BIRTH
    assert codes.parse_resident_id(codes.make_resident_id("339902", earliest, 1))
    with pytest.raises(codes.CodeError) as err:
        codes.parse_resident_id(codes.make_resident_id("339902", earliest - dt.timedelta(days=1), 1))
    assert err.value.code == "birth_date"


def test_org_code_check_examples():
    # Worked example: body D2143569 -> weights 3 7 9 10 5 8 4 2 -> 13*3+2*7+1*9+4*10+3*5+5*8+6*4+9*2 = 199;
    # 11 - 199 % 11 = 10 -> X.
    assert codes.org_code_check_char("D2143569") == "X"
    assert codes.parse_org_code("D2143569-X") == "D2143569X"
    with pytest.raises(codes.CodeError) as err:
        codes.parse_org_code("D21435691")
    assert err.value.code == "org_checksum"


def _mod3736_brute_force(data: str) -> str:
    """Independent check: the one character that makes the ISO 7064 hybrid recursion end in 1."""
    found = [c for c in codes.MOD3736_ALPHABET if codes.mod3736_is_valid(data + c)]
    assert len(found) == 1
    return found[0]


licence_fields = st.tuples(
    st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=21, max_size=21),
    st.sampled_from(REAL_USCC),
    st.text(alphabet="0123456789", min_size=1, max_size=12),
    st.integers(min_value=1, max_value=999),
)


@given(licence_fields)
def test_licence_identifier_round_trip_and_check(fields):
    type_code, issuer, serial, version = fields
    identifier = codes.make_licence_identifier(type_code, issuer, serial, version)
    parsed = codes.parse_licence_identifier(identifier)
    assert str(parsed) == identifier
    assert parsed.version == f"{version:03d}"
    assert parsed.check == _mod3736_brute_force(type_code + issuer + serial + f"{version:03d}")


@given(licence_fields, st.integers(min_value=0, max_value=20), st.integers(min_value=1, max_value=35))
def test_licence_identifier_single_change_in_type_code_is_caught(fields, position, delta):
    type_code, issuer, serial, version = fields
    identifier = codes.make_licence_identifier(type_code, issuer, serial, version)
    alphabet = codes.MOD3736_ALPHABET
    changed_type = (
        type_code[:position]
        + alphabet[(alphabet.index(type_code[position]) + delta) % 36]
        + type_code[position + 1 :]
    )
    forged = identifier.replace(type_code, changed_type, 1)
    with pytest.raises(codes.CodeError) as err:
        codes.parse_licence_identifier(forged)
    assert err.value.code == "checksum"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("1.2.156.3005.1.X", "prefix"),
        ("1.2.156.3005.2.ABC", "structure"),
        ("1.2.156.3005.2.123.91350100M000100Y43.1.001.A", "type_code"),
        ("1.2.156.3005.2.123456789012345678901.91350100M000100Y44.1.001.A", "issuer_code"),
        ("1.2.156.3005.2.123456789012345678901.91350100M000100Y43.1.01.A", "version"),
    ],
)
def test_licence_identifier_errors(value, code):
    with pytest.raises(codes.CodeError) as err:
        codes.parse_licence_identifier(value)
    assert err.value.code == code


@pytest.mark.parametrize(
    ("value", "level", "parent"),
    [
        ("330000", "province", None),
        ("339900", "city", "330000"),
        ("339902", "county", "339900"),
        ("339902001", "township", "339902"),
    ],
)
def test_area_codes(value, level, parent):
    area = codes.parse_area_code(value, allow_township=True)
    assert area.level == level
    assert area.parent_code == parent


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("33990", "format"),
        ("990000", "province"),
        ("330012", "structure"),
        ("33a900", "format"),
        ("339902001", "format"),
    ],
)
def test_area_code_errors(value, code):
    with pytest.raises(codes.CodeError) as err:
        codes.parse_area_code(value)
    assert err.value.code == code


@given(st.text(max_size=40))
def test_parsers_never_fail_with_anything_but_code_error(text):
    for parse in (
        codes.parse_resident_id,
        codes.parse_uscc,
        codes.parse_org_code,
        codes.parse_licence_identifier,
        codes.parse_area_code,
    ):
        with contextlib.suppress(codes.CodeError):
            parse(text)


def test_masking():
    assert codes.mask_phone("13812345678") == "138****5678"
    assert codes.mask_name("张三丰") == "张**"
    assert codes.mask_login_identifier("11010519491231002X") == "110105********002X"
    assert codes.mask_login_identifier("13812345678") == "138****5678"


# Telephone numbers, postcodes, number plates (the form field types catalog.fields uses these).


@given(st.sampled_from("3456789"), st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_generated_mobile_numbers_are_valid(second, rest):
    number = f"1{second}{rest}"
    assert codes.parse_mobile(number) == number
    assert codes.parse_phone(number) == number


@pytest.mark.parametrize(
    ("value", "code"),
    [("1391234567", "mobile_format"), ("12912345678", "mobile_prefix"), ("1391234567８", "mobile_format")],
)
def test_mobile_errors(value, code):
    with pytest.raises(codes.CodeError) as err:
        codes.parse_mobile(value)
    assert err.value.code == code


@pytest.mark.parametrize("value", ["0571-88888888", "010-62345678", "057188888888", "0571-88888888-123"])
def test_fixed_lines_are_phones(value):
    assert codes.parse_phone(value) == value


@pytest.mark.parametrize("value", ["12345", "0571-0888888", "571-88888888", "0571-8888", "电话"])
def test_not_phones(value):
    with pytest.raises(codes.CodeError) as err:
        codes.parse_phone(value)
    assert err.value.code in {"phone_format", "mobile_format", "mobile_prefix"}


def test_postcodes():
    assert codes.parse_postcode("310000") == "310000"
    for value, code in [
        ("31000", "postcode_format"),
        ("３１００００", "postcode_format"),
        ("999077", "postcode_zone"),
    ]:
        with pytest.raises(codes.CodeError) as err:
            codes.parse_postcode(value)
        assert err.value.code == code


@pytest.mark.parametrize(
    ("value", "plate"),
    [
        ("浙A12345", "浙A12345"),
        ("浙a·1234学", "浙A1234学"),
        ("粤BD12345", "粤BD12345"),
        ("京A12345F", "京A12345F"),
    ],
)
def test_vehicle_plates(value, plate):
    assert codes.parse_vehicle_plate(value) == plate


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("浙A1234", "plate_length"),
        ("AA12345", "plate_province"),
        ("浙O12345", "plate_office"),
        ("浙A1234I", "plate_serial"),
        ("浙A123456", "plate_serial"),  # 6 characters: a new-energy plate, which has D or F at an end
    ],
)
def test_vehicle_plate_errors(value, code):
    with pytest.raises(codes.CodeError) as err:
        codes.parse_vehicle_plate(value)
    assert err.value.code == code
