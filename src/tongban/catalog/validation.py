"""Checks on catalogue content. Each returns every problem at once (一次性告知), each naming the field."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from tongban.core import codes, conditions
from tongban.identity.constants import StaffRoleName

from . import fields
from .constants import (
    ACCEPTED_FORMATS,
    MAX_MATERIAL_MB,
    PREFILL_SOURCES,
    WIDGETS,
    ApplicantType,
    Channel,
    ItemType,
    OnlineDepth,
    StepKind,
)


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}：{self.message}"


class CatalogError(Exception):
    """Refused catalogue content; ``problems`` lists every field at fault."""

    def __init__(self, subject: str, problems: Iterable[Problem]) -> None:
        self.subject = subject
        self.problems = list(problems)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        details = "；".join(str(p) for p in self.problems)
        return _("“%(subject)s”有误：%(details)s") % {"subject": self.subject, "details": details}


def check_basic_code(value: str) -> list[Problem]:
    if len(value) != 12 or not value.isascii() or not value.isdigit():
        return [Problem("basic_code", _("基本编码应为12位数字。"))]
    if value[:2] not in ItemType.values:
        return [Problem("basic_code", _("基本编码前2位应为事项类型代码。"))]
    if value[2:7] == "00000":
        return [Problem("basic_code", _("基本编码第3至7位（主项编码）不能全为0。"))]
    return []


def implementation_code(department_uscc: str, basic_code: str) -> str:
    return f"{department_uscc}{basic_code}"


def check_implementation_code(value: str, *, department_uscc: str, basic_code: str) -> list[Problem]:
    if len(value) != 30:
        return [
            Problem(
                "implementation_code", _("实施编码应为30位：18位实施主体统一社会信用代码加12位基本编码。")
            )
        ]
    try:
        codes.parse_uscc(value[:18])
    except codes.CodeError as exc:
        return [
            Problem("implementation_code", _("实施编码前18位不是有效的统一社会信用代码：%(r)s") % {"r": exc})
        ]
    problems = []
    if value[:18] != department_uscc:
        problems.append(Problem("implementation_code", _("实施编码前18位应为实施部门的统一社会信用代码。")))
    if value[18:] != basic_code:
        problems.append(Problem("implementation_code", _("实施编码后12位应与基本编码一致。")))
    return problems


_META = Draft202012Validator(Draft202012Validator.META_SCHEMA)


@functools.lru_cache(maxsize=4096)
def _schema_error(canonical: str) -> tuple[str, str] | None:
    """The most relevant metaschema error of a schema given as canonical JSON; cached, as catalogues reuse
    the same forms across many items."""
    error = best_match(_META.iter_errors(json.loads(canonical)))
    if error is None:
        return None
    return "/".join(str(p) for p in error.path) or "$", error.message


def check_form_schema(schema: Any) -> list[Problem]:
    field = "form_schema"
    if not isinstance(schema, Mapping):
        return [Problem(field, _("申请表应为 JSON 对象。"))]
    try:
        error = _schema_error(json.dumps(schema, sort_keys=True, ensure_ascii=False))
    except (TypeError, ValueError):
        error = ("$", "not serialisable as JSON")
    if error is not None:
        path, msg = error
        return [Problem(field, _("不是有效的 JSON Schema（%(path)s）：%(msg)s") % {"path": path, "msg": msg})]
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), Mapping):
        return [Problem(field, _("申请表的根应为 type: object 并列出 properties。"))]
    problems = []
    properties = schema["properties"]
    for name, prop in properties.items():
        if not isinstance(prop, Mapping) or "type" not in prop:
            problems.append(Problem(f"{field}.{name}", _("每个字段都应声明 type。")))
            continue
        if not prop.get("title"):
            problems.append(Problem(f"{field}.{name}", _("每个字段都应有中文标题 title。")))
        source = prop.get("x-prefill")
        if source is not None and source not in PREFILL_SOURCES:
            problems.append(Problem(f"{field}.{name}", _("未知的预填来源：%(s)s") % {"s": source}))
        widget = prop.get("x-widget")
        if widget is not None and widget not in WIDGETS:
            problems.append(Problem(f"{field}.{name}", _("未知的控件类型：%(w)s") % {"w": widget}))
        for hint in ("x-group", "x-help"):
            if hint in prop and not isinstance(prop[hint], str):
                problems.append(Problem(f"{field}.{name}", _("%(h)s 应为文字。") % {"h": hint}))
        problems += [Problem(f"{field}.{name}", message) for message in fields.check_property(prop)]
    order = schema.get("x-order")
    if order is not None and (not isinstance(order, list) or set(order) - set(properties)):
        problems.append(Problem(f"{field}.x-order", _("x-order 应为字段名列表，且只能包含已定义的字段。")))
    for name in schema.get("required", []):
        if name not in properties:
            problems.append(
                Problem(f"{field}.required", _("必填字段 %(n)s 未在 properties 中定义。") % {"n": name})
            )
    return problems


def check_workflow(workflow: Any, *, known_departments: set[str]) -> list[Problem]:
    """Steps with keys, kinds, acting department ("$self" = the implementing one) and role; ``after`` lists
    the steps that must finish first, so steps sharing predecessors run in parallel (并联审批)."""
    field = "workflow"
    if (
        not isinstance(workflow, Mapping)
        or not isinstance(workflow.get("steps"), list)
        or not workflow["steps"]
    ):
        return [Problem(field, _("办理流程应包含至少一个步骤 steps。"))]
    problems: list[Problem] = []
    steps = workflow["steps"]
    keys = [s.get("key") for s in steps if isinstance(s, Mapping)]
    if len(keys) != len(steps):
        return [Problem(field, _("每个步骤都应为 JSON 对象。"))]
    if len(set(keys)) != len(keys):
        problems.append(Problem(field, _("步骤 key 不能重复。")))
    for step in steps:
        where = f"{field}.{step.get('key')}"
        if step.get("kind") not in StepKind.values:
            problems.append(Problem(where, _("步骤类型应为 accept、review、decide 或 close。")))
        department = step.get("department", "$self")
        if department != "$self" and department not in known_departments:
            problems.append(Problem(where, _("引用了不存在的部门：%(d)s") % {"d": department}))
        if step.get("role") not in StaffRoleName.values:
            problems.append(Problem(where, _("引用了不存在的角色：%(r)s") % {"r": step.get("role")}))
        for before in step.get("after", []):
            if before not in keys:
                problems.append(Problem(where, _("after 引用了不存在的步骤：%(k)s") % {"k": before}))
    if problems:
        return problems
    kinds = [s["kind"] for s in steps]
    if StepKind.ACCEPT not in kinds or StepKind.DECIDE not in kinds:
        problems.append(Problem(field, _("办理流程至少应有受理（accept）和决定（decide）步骤。")))
    starts = [s for s in steps if not s.get("after")]
    if len(starts) != 1 or starts[0]["kind"] != StepKind.ACCEPT:
        problems.append(Problem(field, _("办理流程应从唯一的受理步骤开始。")))
    if _has_cycle(steps):
        problems.append(Problem(field, _("步骤之间的先后关系形成了循环。")))
    return problems


def _has_cycle(steps: list[Mapping[str, Any]]) -> bool:
    after = {s["key"]: list(s.get("after", [])) for s in steps}
    state: dict[str, int] = {}

    def visit(key: str) -> bool:
        if state.get(key) == 1:
            return True
        if state.get(key) == 2:
            return False
        state[key] = 1
        if any(visit(k) for k in after[key]):
            return True
        state[key] = 2
        return False

    return any(visit(k) for k in after)


def check_version_fields(data: Mapping[str, Any]) -> list[Problem]:
    problems = []
    if not (data.get("name") or "").strip():
        problems.append(Problem("name", _("请填写事项名称。")))
    if data.get("item_type") not in ItemType.values:
        problems.append(Problem("item_type", _("请选择事项类型。")))
    types = data.get("applicant_types") or []
    if not types or any(t not in ApplicantType.values for t in types):
        problems.append(Problem("applicant_types", _("服务对象应为自然人和/或法人。")))
    if not (data.get("legal_basis") or "").strip():
        problems.append(Problem("legal_basis", _("请填写设定依据。")))
    statutory, committed = data.get("statutory_days"), data.get("committed_days")
    if not isinstance(statutory, int) or not isinstance(committed, int) or statutory < 1 or committed < 1:
        problems.append(Problem("committed_days", _("法定和承诺时限应为正整数（工作日）。")))
    elif committed > statutory:
        problems.append(Problem("committed_days", _("承诺时限不能长于法定时限。")))
    channels = data.get("channels") or []
    if not channels or any(c not in Channel.values for c in channels):
        problems.append(Problem("channels", _("请选择办理渠道。")))
    if data.get("online_depth") not in OnlineDepth.values:
        problems.append(Problem("online_depth", _("请选择网办深度。")))
    return problems


def check_materials(materials: list[Mapping[str, Any]], form_fields: set[str]) -> list[Problem]:
    problems = []
    seen = set()
    for m in materials:
        where = f"materials.{m.get('code') or m.get('name')}"
        if not m.get("code") or not m.get("name"):
            problems.append(Problem(where, _("材料应有编码和名称。")))
        if m.get("code") in seen:
            problems.append(Problem(where, _("材料编码重复。")))
        seen.add(m.get("code"))
        formats = m.get("formats") or []
        if any(f not in ACCEPTED_FORMATS for f in formats):
            problems.append(
                Problem(
                    where, _("不支持的文件格式，可选：%(f)s") % {"f": "、".join(sorted(ACCEPTED_FORMATS))}
                )
            )
        size = m.get("max_size_mb", 10)
        if not isinstance(size, int) or not 1 <= size <= MAX_MATERIAL_MB:
            problems.append(Problem(where, _("大小上限应为1至%(n)dMB。") % {"n": MAX_MATERIAL_MB}))
        condition = m.get("condition")
        if condition:
            try:
                conditions.validate_condition(condition)
            except conditions.ConditionError as exc:
                problems.append(Problem(where, str(exc)))
            else:
                unknown = conditions.condition_fields(condition) - form_fields
                if unknown:
                    problems.append(
                        Problem(
                            where,
                            _("条件引用了申请表中没有的字段：%(f)s") % {"f": "、".join(sorted(unknown))},
                        )
                    )
    return problems


VERIFIED_FIELDS = frozenset({"verified.real_name_level", "verified.age", "verified.organisation_verified"})


def check_rules(rules: Any, form_fields: set[str]) -> list[Problem]:
    """秒批 rules: a list of {label, condition}; conditions may read form fields and verified data."""
    if not isinstance(rules, list):
        return [Problem("decision_rules", _("秒批规则应为列表。"))]
    problems = []
    for i, rule in enumerate(rules):
        where = f"decision_rules[{i}]"
        if not isinstance(rule, Mapping) or not rule.get("label") or "condition" not in rule:
            problems.append(Problem(where, _("每条秒批规则应有说明 label 和条件 condition。")))
            continue
        try:
            conditions.validate_condition(rule["condition"])
        except conditions.ConditionError as exc:
            problems.append(Problem(where, str(exc)))
            continue
        unknown = conditions.condition_fields(rule["condition"]) - form_fields - VERIFIED_FIELDS
        if unknown:
            problems.append(
                Problem(where, _("规则引用了未知的数据：%(f)s") % {"f": "、".join(sorted(unknown))})
            )
    return problems
