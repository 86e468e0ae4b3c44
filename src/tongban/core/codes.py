"""National code standards: resident ID numbers, credit codes, organisation codes, licence identifiers, areas.

Every parser returns a small value object and raises ``CodeError`` whose message says, in the user's
language, which check failed. ``CodeError.code`` is a stable machine-readable reason for APIs.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

# GB 11643-1999 (ISO 7064 MOD 11-2)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
ID_EARLIEST_BIRTH = dt.date(1800, 1, 1)  # an earlier "birth date" is a typing error, not a person

# GB 32100-2015
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# Registration authority -> allowed organisation categories (GB 32100-2015, table 1, with the 2017/2018
# additions A for the Central Military Commission and N for agriculture departments).
USCC_AUTHORITIES: dict[str, str] = {
    "1": "1239",  # 机构编制: 机关, 事业单位, 群众团体, 其他
    "2": "19",  # 外交
    "3": "123459",  # 司法行政
    "4": "19",  # 文化
    "5": "1239",  # 民政: 社会团体, 民办非企业单位, 基金会, 其他
    "6": "129",  # 旅游
    "7": "129",  # 宗教
    "8": "19",  # 工会
    "9": "123",  # 工商 / 市场监管: 企业, 个体工商户, 农民专业合作社
    "A": "19",  # 中央军委改革和编制办公室
    "N": "1239",  # 农业: 组级, 村级, 乡镇级集体经济组织, 其他
    "Y": "1",  # 其他
}

# GB 11714-1997: body characters are digits and capital letters (A = 10 … Z = 35); the check is
# 11 − Σ mod 11 with 10 → X and 11 → 0, i.e. ORG_CHECK_CHARS[Σ mod 11].
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ORG_CHECK_CHARS = "0X987654321"

# GB/T 2260 province-level prefixes (81/82 Hong Kong/Macao, 83 Taiwan residence permits).
PROVINCE_PREFIXES = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
        "83",
    ]
)
# Characters 3–8 of a credit code: a GB/T 2260 area, or 10xxxx for national-level registrations (100000).
USCC_AREA_PREFIXES = PROVINCE_PREFIXES | {"10"}

# GB/T 36904 licence identifier
LICENCE_OID_PREFIX = "1.2.156.3005.2"
MOD3736_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class CodeError(ValueError):
    """A code failed a check; ``code`` names the check, ``str(err)`` explains it to a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --------------------------------------------------------------------------------------------------
# Area codes (GB/T 2260, 6 digits; townships per GB/T 10114 add 3 digits)


@dataclass(frozen=True)
class AreaCode:
    code: str

    @property
    def level(self) -> str:
        if len(self.code) == 9:
            return "township"
        if self.code.endswith("0000"):
            return "province"
        if self.code.endswith("00"):
            return "city"
        return "county"

    @property
    def province(self) -> str:
        return self.code[:2] + "0000"

    @property
    def parent_code(self) -> str | None:
        level = self.level
        if level == "township":
            return self.code[:6]
        if level == "county":
            return self.code[:4] + "00"
        if level == "city":
            return self.province
        return None


def parse_area_code(value: str, *, allow_township: bool = False) -> AreaCode:
    code = (value or "").strip()
    lengths = (6, 9) if allow_township else (6,)
    if not code.isascii() or not code.isdigit() or len(code) not in lengths:
        raise CodeError("format", _("行政区划代码应为6位数字（GB/T 2260）。"))
    if code[:2] not in PROVINCE_PREFIXES:
        raise CodeError("province", _("行政区划代码的前两位不是有效的省级代码。"))
    if code[2:4] == "00" and code[4:6] != "00":
        raise CodeError("structure", _("行政区划代码的地市级位为00时，县级位也应为00。"))
    if len(code) == 9 and code[6:] == "000":
        raise CodeError("structure", _("乡镇级区划代码的后三位不能为000。"))
    return AreaCode(code)


# --------------------------------------------------------------------------------------------------
# Resident ID numbers (GB 11643-1999)


@dataclass(frozen=True)
class ResidentId:
    number: str

    @property
    def area_code(self) -> str:
        return self.number[:6]

    @property
    def birth_date(self) -> dt.date:
        return dt.date(int(self.number[6:10]), int(self.number[10:12]), int(self.number[12:14]))

    @property
    def sex(self) -> str:
        """'M' or 'F': the 17th digit is odd for men."""
        return "M" if int(self.number[16]) % 2 else "F"

    @property
    def masked(self) -> str:
        return mask_id_number(self.number)


def resident_id_check_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def parse_resident_id(value: str, *, today: dt.date | None = None) -> ResidentId:
    number = (value or "").strip().upper()
    if len(number) != 18:
        raise CodeError("length", _("公民身份号码应为18位。"))
    if not number.isascii() or not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise CodeError("format", _("公民身份号码前17位应为数字，最后一位为数字或X。"))
    if number[:2] not in PROVINCE_PREFIXES:
        raise CodeError("area", _("公民身份号码的地址码（前6位）不是有效的行政区划代码。"))
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise CodeError("birth_date", _("公民身份号码第7至14位不是真实的出生日期。")) from None
    today = today or dt.date.today()
    if birth > today or birth < ID_EARLIEST_BIRTH:
        raise CodeError("birth_date", _("公民身份号码中的出生日期不在合理范围内。"))
    if resident_id_check_char(number[:17]) != number[17]:
        raise CodeError("checksum", _("公民身份号码的校验码（第18位）不正确。"))
    return ResidentId(number)


def make_resident_id(area_code: str, birth_date: dt.date, sequence: int) -> str:
    """Build a valid number; ``sequence`` is 0-999, odd for men."""
    first17 = f"{area_code}{birth_date:%Y%m%d}{sequence:03d}"
    return first17 + resident_id_check_char(first17)


def mask_id_number(number: str) -> str:
    """Keep the first 6 and last 4 characters (GB/T 35273 practice for display)."""
    if len(number) < 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_login_identifier(value: str) -> str:
    """What someone typed into a login form, safe to log: ID numbers and phone numbers masked."""
    value = (value or "").strip()
    if len(value) == 18:
        return mask_id_number(value)
    if len(value) == 11 and value.isdigit():
        return mask_phone(value)
    return value[:150]


def mask_phone(phone: str) -> str:
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_name(name: str) -> str:
    if len(name) <= 1:
        return name
    return name[0] + "*" * (len(name) - 1)


# --------------------------------------------------------------------------------------------------
# Organisation codes (GB 11714-1997)


def org_code_check_char(body8: str) -> str:
    total = sum(ORG_ALPHABET.index(c) * w for c, w in zip(body8, ORG_WEIGHTS, strict=True))
    return ORG_CHECK_CHARS[total % 11]


_ORG_RE = re.compile(r"^[0-9A-Z]{8}[0-9X]$")


def parse_org_code(value: str) -> str:
    code = (value or "").strip().upper().replace("-", "")
    if len(code) != 9:
        raise CodeError("length", _("组织机构代码应为9位（GB 11714）。"))
    if not _ORG_RE.match(code):
        raise CodeError("format", _("组织机构代码本体应为数字或大写字母，校验码为数字或X。"))
    if org_code_check_char(code[:8]) != code[8]:
        raise CodeError("org_checksum", _("组织机构代码的校验码不正确。"))
    return code


# --------------------------------------------------------------------------------------------------
# Unified social credit codes (GB 32100-2015)


@dataclass(frozen=True)
class CreditCode:
    code: str

    @property
    def registration_authority(self) -> str:
        return self.code[0]

    @property
    def category(self) -> str:
        return self.code[1]

    @property
    def area_code(self) -> str:
        return self.code[2:8]

    @property
    def org_code(self) -> str:
        return self.code[8:17]


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def parse_uscc(value: str) -> CreditCode:
    code = (value or "").strip().upper()
    if len(code) != 18:
        raise CodeError("length", _("统一社会信用代码应为18位。"))
    bad = [c for c in code if c not in USCC_ALPHABET]
    if bad:
        raise CodeError(
            "alphabet",
            _("统一社会信用代码含有不允许的字符“%(chars)s”（不使用I、O、Z、S、V）。")
            % {"chars": "".join(dict.fromkeys(bad))},
        )
    categories = USCC_AUTHORITIES.get(code[0])
    if categories is None:
        raise CodeError("authority", _("统一社会信用代码第1位（登记管理部门代码）无效。"))
    if code[1] not in categories:
        raise CodeError("category", _("统一社会信用代码第2位（机构类别代码）与登记管理部门不匹配。"))
    if not code[2:8].isdigit() or code[2:4] not in USCC_AREA_PREFIXES:
        raise CodeError("area", _("统一社会信用代码第3至8位（登记管理机关行政区划码）无效。"))
    try:
        parse_org_code(code[8:17])
    except CodeError:
        raise CodeError(
            "org_checksum", _("统一社会信用代码第9至17位（组织机构代码）的校验码不正确。")
        ) from None
    if uscc_check_char(code[:17]) != code[17]:
        raise CodeError("checksum", _("统一社会信用代码的校验码（第18位）不正确。"))
    return CreditCode(code)


def make_uscc(authority: str, category: str, area_code: str, org_body8: str) -> str:
    first17 = f"{authority}{category}{area_code}{org_body8}{org_code_check_char(org_body8)}"
    return first17 + uscc_check_char(first17)


# --------------------------------------------------------------------------------------------------
# Electronic licence identifiers (GB/T 36904), check per ISO/IEC 7064 MOD 37,36


def mod3736_check_char(data: str) -> str:
    m = 36
    p = m
    for c in data:
        s = (p + MOD3736_ALPHABET.index(c)) % m or m
        p = (2 * s) % (m + 1)
    return MOD3736_ALPHABET[(m + 1 - p) % m]


def mod3736_is_valid(data_with_check: str) -> bool:
    m = 36
    p = m
    for c in data_with_check[:-1]:
        s = (p + MOD3736_ALPHABET.index(c)) % m or m
        p = (2 * s) % (m + 1)
    return (p + MOD3736_ALPHABET.index(data_with_check[-1])) % m == 1


@dataclass(frozen=True)
class LicenceIdentifier:
    type_code: str
    issuer_code: str
    serial: str
    version: str
    check: str

    def __str__(self) -> str:
        return ".".join(
            (LICENCE_OID_PREFIX, self.type_code, self.issuer_code, self.serial, self.version, self.check)
        )


_LICENCE_FIELD = re.compile(r"^[0-9A-Z]+$")


def make_licence_identifier(type_code: str, issuer_code: str, serial: str, version: int | str = 1) -> str:
    version = f"{int(version):03d}"
    data = f"{type_code}{issuer_code}{serial}{version}".upper()
    return ".".join((LICENCE_OID_PREFIX, type_code, issuer_code, serial, version, mod3736_check_char(data)))


def parse_licence_identifier(value: str) -> LicenceIdentifier:
    text = (value or "").strip().upper()
    if not text.startswith(LICENCE_OID_PREFIX + "."):
        raise CodeError("prefix", _("电子证照标识应以 1.2.156.3005.2. 开头（GB/T 36904）。"))
    parts = text[len(LICENCE_OID_PREFIX) + 1 :].split(".")
    if len(parts) != 5:
        raise CodeError(
            "structure", _("电子证照标识应由证照类型代码、颁发机构代码、流水号、版本号和校验位组成。")
        )
    type_code, issuer, serial, version, check = parts
    if len(type_code) != 21 or not _LICENCE_FIELD.match(type_code):
        raise CodeError("type_code", _("电子证照标识中的证照类型代码应为21位数字或大写字母。"))
    try:
        parse_uscc(issuer)
    except CodeError as exc:
        raise CodeError(
            "issuer_code", _("电子证照标识中的颁发机构代码无效：%(reason)s") % {"reason": exc}
        ) from None
    if not serial or len(serial) > 40 or not _LICENCE_FIELD.match(serial):
        raise CodeError("serial", _("电子证照标识中的流水号应为1至40位数字或大写字母。"))
    if len(version) != 3 or not version.isdigit():
        raise CodeError("version", _("电子证照标识中的版本号应为3位数字。"))
    if len(check) != 1 or check not in MOD3736_ALPHABET:
        raise CodeError("check_format", _("电子证照标识的校验位应为1位数字或大写字母。"))
    if not mod3736_is_valid(type_code + issuer + serial + version + check):
        raise CodeError("checksum", _("电子证照标识的校验位不正确（ISO/IEC 7064 MOD 37,36）。"))
    return LicenceIdentifier(type_code, issuer, serial, version, check)


# --------------------------------------------------------------------------------------------------
# Telephone numbers (mainland mobile numbers per the MIIT numbering plan; fixed lines with a trunk prefix 0,
# a 2-3 digit area code and a 7-8 digit subscriber number not starting with 0 or 1)

_FIXED_LINE = re.compile(r"0[1-9][0-9]{1,2}-?[2-9][0-9]{6,7}(?:-[0-9]{1,6})?")


def parse_mobile(value: str) -> str:
    number = (value or "").strip().replace(" ", "").replace("-", "")
    if len(number) != 11 or not number.isascii() or not number.isdigit():
        raise CodeError("mobile_format", _("手机号码应为11位数字。"))
    if number[0] != "1" or number[1] not in "3456789":
        raise CodeError("mobile_prefix", _("手机号码应以13至19开头。"))
    return number


def parse_phone(value: str) -> str:
    """A mobile number, or a fixed line with its area code (0571-88888888, extension after a second -)."""
    text = (value or "").strip().replace(" ", "")
    if text.isascii() and text.isdigit() and len(text) == 11 and text.startswith("1"):
        return parse_mobile(text)
    if not text.isascii() or not _FIXED_LINE.fullmatch(text):
        raise CodeError(
            "phone_format", _("电话号码应为11位手机号码，或带区号的固定电话（如 0571-88888888）。")
        )
    return text


# --------------------------------------------------------------------------------------------------
# Postal codes (6 digits; the first names the postal zone, 0-8)


def parse_postcode(value: str) -> str:
    code = (value or "").strip()
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        raise CodeError("postcode_format", _("邮政编码应为6位数字。"))
    if code[0] == "9":
        raise CodeError("postcode_zone", _("邮政编码第1位（邮区）应为0至8。"))
    return code


# --------------------------------------------------------------------------------------------------
# Motor vehicle number plates (GA 36-2018): province abbreviation, issuing office letter, serial of 5
# (new-energy vehicles: 6) letters or digits without I and O; special plates end in 挂, 学, 警, 港 or 澳.

PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
PLATE_SPECIAL = "挂学警港澳"


def parse_vehicle_plate(value: str) -> str:
    plate = (value or "").strip().upper().replace("·", "").replace(" ", "").replace("•", "")
    if len(plate) not in (7, 8):
        raise CodeError("plate_length", _("车辆号牌应为7位（新能源汽车8位）。"))
    if plate[0] not in PLATE_PROVINCES:
        raise CodeError("plate_province", _("车辆号牌第1位应为省、自治区、直辖市简称。"))
    if plate[1] not in PLATE_LETTERS:
        raise CodeError("plate_office", _("车辆号牌第2位应为发牌机关代号（字母，不使用I、O）。"))
    serial = plate[2:]
    allowed = PLATE_LETTERS + "0123456789"
    if len(serial) == 5 and serial[-1] in PLATE_SPECIAL:
        serial = serial[:-1]
    if any(c not in allowed for c in serial):
        raise CodeError("plate_serial", _("车辆号牌序号应为字母或数字（不使用I、O）。"))
    if len(serial) == 6 and not (serial[0] in "DF" or serial[-1] in "DF"):
        raise CodeError("plate_serial", _("新能源汽车号牌序号的第1位或最后1位应为D或F。"))
    return plate
