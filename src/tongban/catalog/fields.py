"""Form field types: what a property of an item's form (its JSON Schema) may declare, and how an answer to
it is checked. The one place answers are validated: the web form, drafts, the GovStack Registration API,
corrections and bundled life-event forms all call ``check_answers``; the catalogue checks the declarations
with ``check_property`` when a form is saved or imported.

A property's type decides the checks (every message names the field and, in Chinese, what is wrong):

- ``string``: one line, or several when ``x-widget`` is textarea/address or ``maxLength`` exceeds 100. At
  most ``maxLength`` characters (default 200 for a line, 2,000 for several lines); control and
  bidirectional-formatting characters are refused (tab and newline are allowed in multi-line text).
- ``format`` on a string: a national code checked by ``core.codes`` (FORMATS below: id-number, uscc,
  org-code, area-code, mobile, phone, postcode, licence-id, vehicle-plate), or ``date``. An id-number field
  whose meaning implies a sex (母亲, 父亲) says so with ``x-sex`` (``F``/``M``): the ID's 17th digit must fit.
- ``date``: a real date written YYYY-MM-DD, not before ``x-min-date`` nor after ``x-max-date`` (an ISO date or
  ``today``; by default 1900-01-01 to 2100-12-31).
- ``number`` / ``integer``: a finite number within ``minimum``–``maximum`` (±10¹² when not declared); the
  message says the range (“请填写 0.5–8 之间的数字”).
- ``boolean``, ``enum``, ``array`` (at most ``maxItems``, default 100, each item checked as its own field).

What JSON Schema says beyond that (``required``, ``pattern``, ``minLength``, ``multipleOf``…) is checked
afterwards, on the answers that passed, so no pattern ever runs over an over-long text."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from jsonschema import Draft202012Validator, FormatChecker

from tongban.core import codes

DEFAULT_MAX_LENGTH = 200
DEFAULT_MULTILINE_MAX_LENGTH = 2000
# No form may let a field hold more than this, whatever its maxLength says.
MAX_LENGTH_LIMIT = 20000
NUMBER_LIMIT = 10**12
DEFAULT_MAX_ITEMS = 100
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2100, 12, 31)
SEXES = {"M", "F"}


# format -> parser returning the canonical form (raises codes.CodeError naming the failed check)
FORMATS: dict[str, Callable[[str], str]] = {
    "id-number": lambda v: codes.parse_resident_id(v).number,
    "uscc": lambda v: codes.parse_uscc(v).code,
    "org-code": codes.parse_org_code,
    "area-code": lambda v: codes.parse_area_code(v, allow_township=True).code,
    "mobile": codes.parse_mobile,
    "phone": codes.parse_phone,
    "postcode": codes.parse_postcode,
    "licence-id": lambda v: str(codes.parse_licence_identifier(v)),
    "vehicle-plate": codes.parse_vehicle_plate,
}
# Forms written before ``format`` was used for codes name them by their widget only.
WIDGET_FORMATS = {"id-number": "id-number", "phone": "phone", "date": "date"}
# Formats jsonschema itself knows and checks (email, uri, …) are allowed as they are.
KNOWN_FORMATS = frozenset(FORMATS) | frozenset(FormatChecker().checkers)

# Never in an answer: C0 controls (tab and newline only in multi-line text), DEL and C1 controls, the
# bidirectional marks, embeddings, overrides and isolates (a U+202E turns "exe.txt" into "txt.exe" on a
# staff screen), and lone surrogates (which PostgreSQL refuses to store).
_FORBIDDEN = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_FORBIDDEN_MULTILINE = re.compile(f"[{_FORBIDDEN}]")
_FORBIDDEN_LINE = re.compile(f"[\t\n\r{_FORBIDDEN}]")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass
class Checked:
    """The answers in canonical form (codes normalised, text trimmed) and the problems by field."""

    values: dict[str, Any] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def field_kind(prop: Mapping[str, Any]) -> str:
    """How the portal renders the field: text, textarea, date, number, integer, select, checkbox, multi."""
    widget = prop.get("x-widget")
    if prop.get("type") == "array":
        return "multi"
    if prop.get("type") == "boolean":
        return "checkbox"
    if "enum" in prop:
        return "select"
    if prop.get("type") in ("integer", "number"):
        return prop["type"]
    if prop.get("format") == "date" or widget == "date":
        return "date"
    max_length = prop.get("maxLength", 0)
    if widget in ("textarea", "address") or (isinstance(max_length, int) and max_length > 100):
        return "textarea"
    return "text"


def field_format(prop: Mapping[str, Any]) -> str | None:
    return prop.get("format") or WIDGET_FORMATS.get(prop.get("x-widget", ""))


def max_length(prop: Mapping[str, Any]) -> int:
    declared = prop.get("maxLength")
    if isinstance(declared, int) and not isinstance(declared, bool) and declared > 0:
        return min(declared, MAX_LENGTH_LIMIT)
    return DEFAULT_MULTILINE_MAX_LENGTH if field_kind(prop) == "textarea" else DEFAULT_MAX_LENGTH


def number_range(prop: Mapping[str, Any]) -> tuple[float, float]:
    low, high = prop.get("minimum", -NUMBER_LIMIT), prop.get("maximum", NUMBER_LIMIT)
    return low, high


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _range_message(prop: Mapping[str, Any], title: str) -> str:
    low, high = number_range(prop)
    values = {"t": title, "low": _number_text(low), "high": _number_text(high)}
    if prop.get("type") == "integer":
        return _("“%(t)s”请填写 %(low)s–%(high)s 之间的整数。") % values
    return _("“%(t)s”请填写 %(low)s–%(high)s 之间的数字。") % values


def _check_number(prop: Mapping[str, Any], value: Any, title: str) -> int | float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and isinstance(value, float):
        ok = math.isfinite(value)
    if ok and prop.get("type") == "integer" and isinstance(value, float):
        ok = value.is_integer()
        value = int(value) if ok else value
    low, high = number_range(prop)
    if not ok or not low <= value <= high:
        raise _Refused(_range_message(prop, title))
    return value


def _date_bound(bound: Any, today: dt.date) -> dt.date | None:
    if bound == "today":
        return today
    if isinstance(bound, str):
        try:
            return dt.date.fromisoformat(bound)
        except ValueError:
            return None
    return None


def _check_date(prop: Mapping[str, Any], value: str, title: str, today: dt.date) -> str:
    try:
        if not _DATE.fullmatch(value):
            raise ValueError(value)
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise _Refused(
            _("“%(t)s”不是真实的日期，请按“年-月-日”填写（如 2024-05-01）。") % {"t": title}
        ) from None
    earliest = _date_bound(prop.get("x-min-date"), today) or EARLIEST_DATE
    latest = _date_bound(prop.get("x-max-date"), today) or LATEST_DATE
    if day > latest:
        if prop.get("x-max-date") == "today":
            raise _Refused(_("“%(t)s”不能晚于今天。") % {"t": title})
        raise _Refused(_("“%(t)s”不能晚于 %(d)s。") % {"t": title, "d": latest.isoformat()})
    if day < earliest:
        if prop.get("x-min-date") == "today":
            raise _Refused(_("“%(t)s”不能早于今天。") % {"t": title})
        raise _Refused(_("“%(t)s”不能早于 %(d)s。") % {"t": title, "d": earliest.isoformat()})
    return value


def _check_code(prop: Mapping[str, Any], fmt: str, value: str, title: str, today: dt.date) -> str:
    try:
        if fmt == "id-number":
            resident = codes.parse_resident_id(value, today=today)
            canonical = resident.number
        else:
            canonical = FORMATS[fmt](value)
    except codes.CodeError as exc:
        raise _Refused(_("“%(t)s”：%(r)s") % {"t": title, "r": exc.message}) from None
    sex = prop.get("x-sex")
    if fmt == "id-number" and sex in SEXES and resident.sex != sex:
        if resident.sex == "M":
            message = _("“%(t)s”：公民身份号码第17位（性别码）表明是男性，与本栏不符。")
        else:
            message = _("“%(t)s”：公民身份号码第17位（性别码）表明是女性，与本栏不符。")
        raise _Refused(message % {"t": title})
    return canonical


def _check_text(prop: Mapping[str, Any], value: Any, title: str, today: dt.date) -> str:
    if not isinstance(value, str):
        raise _Refused(_("“%(t)s”应填写文字。") % {"t": title})
    multiline = field_kind(prop) == "textarea"
    if multiline:
        value = value.replace("\r\n", "\n")  # what browsers send for a newline in a textarea
    limit = max_length(prop)
    if len(value) > limit:
        raise _Refused(_("“%(t)s”不能超过 %(n)d 个字。") % {"t": title, "n": limit})
    bad = (_FORBIDDEN_MULTILINE if multiline else _FORBIDDEN_LINE).search(value)
    if bad is not None:
        char = bad.group()
        if char in "\t\n\r" and not multiline:
            raise _Refused(_("“%(t)s”只能填写一行文字。") % {"t": title})
        raise _Refused(
            _("“%(t)s”含有不允许的控制字符 U+%(c)04X，请删除后重新填写。") % {"t": title, "c": ord(char)}
        )
    value = value.strip()
    fmt = field_format(prop)
    if value and fmt == "date":
        return _check_date(prop, value, title, today)
    if value and fmt in FORMATS:
        return _check_code(prop, fmt, value, title, today)
    return value


def check_value(prop: Mapping[str, Any], value: Any, *, title: str, today: dt.date) -> Any:
    """One answer in canonical form; _Refused with the Chinese message when it is not acceptable."""
    kind = prop.get("type")
    if "enum" in prop and kind != "array":
        if not any(value == option and type(value) is type(option) for option in prop["enum"]):
            raise _Refused(_("“%(t)s”请从给定选项中选择。") % {"t": title})
        return value
    if kind == "string":
        return _check_text(prop, value, title, today)
    if kind in ("number", "integer"):
        return _check_number(prop, value, title)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _Refused(_("“%(t)s”填写有误。") % {"t": title})
        return value
    if kind == "array":
        limit = prop.get("maxItems", DEFAULT_MAX_ITEMS)
        if not isinstance(value, list) or len(value) > limit:
            raise _Refused(_("“%(t)s”请从给定选项中选择。") % {"t": title})
        items = prop.get("items") if isinstance(prop.get("items"), Mapping) else {}
        return [check_value(items, v, title=title, today=today) for v in value] if items else value
    return value


_FORMAT_CHECKER = FormatChecker()


def _schema_message(error: Any, properties: Mapping[str, Any]) -> tuple[str, str]:
    if error.validator == "required":
        name = error.message.split("'")[1] if "'" in error.message else ""
        title = properties.get(name, {}).get("title", name)
        return name, _("请填写“%(t)s”。") % {"t": title}
    name = str(error.path[0]) if error.path else ""
    title = properties.get(name, {}).get("title", name)
    if error.validator == "enum":
        return name, _("“%(t)s”请从给定选项中选择。") % {"t": title}
    if error.validator in {"type", "format", "pattern"}:
        return name, _("“%(t)s”的格式不正确。") % {"t": title}
    if error.validator in {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}:
        return name, _("“%(t)s”超出允许的范围。") % {"t": title}
    if error.validator in {"maxLength", "minLength"}:
        return name, _("“%(t)s”的长度不符合要求。") % {"t": title}
    return name, _("“%(t)s”填写有误。") % {"t": title}


def check_answers(
    schema: Mapping[str, Any],
    answers: Mapping[str, Any],
    *,
    partial: bool = False,
    today: dt.date | None = None,
) -> Checked:
    """Every problem at once (一次性告知), in Chinese, keyed by field, and the answers in canonical form.
    ``partial``: a draft, where a field may still be empty (required fields are not asked for)."""
    properties = schema.get("properties", {})
    today = today or timezone.localdate()
    checked = Checked()
    for name, value in answers.items():
        prop = properties.get(name)
        if not isinstance(prop, Mapping):
            if len(checked.problems) < 20:  # an answer naming a thousand fields is not echoed back whole
                checked.problems[str(name)[:60]] = _("未知的字段。")
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            continue  # not answered (then "required" says so)
        try:
            checked.values[name] = check_value(prop, value, title=prop.get("title", name), today=today)
        except _Refused as exc:
            checked.problems[name] = exc.message
    validator = Draft202012Validator(schema, format_checker=_FORMAT_CHECKER)
    for error in validator.iter_errors(checked.values):
        if partial and error.validator == "required":
            continue
        name, message = _schema_message(error, properties)
        checked.problems.setdefault(name, message)  # a refused field is not also "missing"
    return checked


def check_property(prop: Mapping[str, Any]) -> list[str]:
    """What is wrong with a field's declaration (messages without the field name)."""
    problems = []
    fmt = prop.get("format")
    if fmt is not None and fmt not in KNOWN_FORMATS:
        problems.append(
            _("未知的字段格式 %(f)s，可选：%(all)s")
            % {"f": fmt, "all": "、".join([*sorted(FORMATS), "date"])}
        )
    sex = prop.get("x-sex")
    if sex is not None and (sex not in SEXES or field_format(prop) != "id-number"):
        problems.append(_("x-sex 只用于公民身份号码字段，取值 M 或 F。"))
    for key in ("x-min-date", "x-max-date"):
        bound = prop.get(key)
        if bound is not None and _date_bound(bound, dt.date.today()) is None:
            problems.append(_("%(k)s 应为 today 或 年-月-日。") % {"k": key})
    declared = prop.get("maxLength")
    if declared is not None and (
        not isinstance(declared, int) or isinstance(declared, bool) or not 1 <= declared <= MAX_LENGTH_LIMIT
    ):
        problems.append(_("maxLength 应为 1 至 %(n)d 之间的整数。") % {"n": MAX_LENGTH_LIMIT})
    bounds = [prop.get(k) for k in ("minimum", "maximum") if prop.get(k) is not None]
    if any(
        isinstance(b, bool) or not isinstance(b, int | float) or not math.isfinite(b) or abs(b) > 10**15
        for b in bounds
    ):
        problems.append(_("minimum 和 maximum 应为有限的数。"))
    elif len(bounds) == 2 and bounds[0] > bounds[1]:
        problems.append(_("minimum 不能大于 maximum。"))
    return problems
