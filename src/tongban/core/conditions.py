"""A small declarative condition language over form answers and verified data (no code execution).

A condition is JSON:
    {"field": "wants_medical_insurance", "op": "eq", "value": true}
    {"all": [cond, ...]}   {"any": [cond, ...]}   {"not": cond}
Operators: eq, ne, in, not_in, gt, gte, lt, lte, truthy, falsy, exists.
Used for conditional materials, bundle inclusion and (later) instant-approval rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

OPERATORS = frozenset({"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "truthy", "falsy", "exists"})
UNARY = frozenset({"truthy", "falsy", "exists"})
MAX_DEPTH = 8


class ConditionError(ValueError):
    pass


def condition_fields(condition: Mapping[str, Any] | None) -> set[str]:
    """The answer fields a condition reads (for checking them against a form schema)."""
    if not condition:
        return set()
    if "field" in condition:
        return {condition["field"]}
    if "not" in condition:
        return condition_fields(condition["not"])
    return set().union(*(condition_fields(c) for c in condition.get("all", condition.get("any", []))))


def validate_condition(condition: Any, *, depth: int = 0) -> None:
    """Raise ConditionError (with a Chinese message) unless ``condition`` is well-formed."""
    if depth > MAX_DEPTH:
        raise ConditionError(_("条件嵌套过深（最多%(n)d层）。") % {"n": MAX_DEPTH})
    if not isinstance(condition, Mapping):
        raise ConditionError(_("条件应为 JSON 对象。"))
    if "field" in condition:
        op = condition.get("op")
        if op not in OPERATORS:
            raise ConditionError(_("不支持的条件运算符：%(op)s") % {"op": op})
        if not isinstance(condition["field"], str) or not condition["field"]:
            raise ConditionError(_("条件中的字段名应为非空字符串。"))
        if op not in UNARY and "value" not in condition:
            raise ConditionError(_("条件运算符 %(op)s 需要 value。") % {"op": op})
        if op in {"in", "not_in"} and not isinstance(condition["value"], list):
            raise ConditionError(_("条件运算符 %(op)s 的 value 应为列表。") % {"op": op})
        return
    keys = set(condition) & {"all", "any", "not"}
    if len(keys) != 1:
        raise ConditionError(_("条件应包含 field、all、any 或 not 之一。"))
    key = keys.pop()
    if key == "not":
        validate_condition(condition["not"], depth=depth + 1)
        return
    parts = condition[key]
    if not isinstance(parts, list) or not parts:
        raise ConditionError(_("条件 %(key)s 应为非空列表。") % {"key": key})
    for part in parts:
        validate_condition(part, depth=depth + 1)


def evaluate(condition: Mapping[str, Any] | None, answers: Mapping[str, Any]) -> bool:
    """True when there is no condition. A comparison with a missing or mistyped answer is False."""
    if not condition:
        return True
    if "all" in condition:
        return all(evaluate(c, answers) for c in condition["all"])
    if "any" in condition:
        return any(evaluate(c, answers) for c in condition["any"])
    if "not" in condition:
        return not evaluate(condition["not"], answers)
    op, field = condition["op"], condition["field"]
    present = field in answers and answers[field] is not None
    value = answers.get(field)
    if op == "exists":
        return present
    if op == "truthy":
        return bool(value)
    if op == "falsy":
        return not value
    expected = condition["value"]
    try:
        if op == "eq":
            return present and value == expected
        if op == "ne":
            return value != expected
        if op == "in":
            return present and value in expected
        if op == "not_in":
            return value not in expected
        if not present:
            return False
        if op == "gt":
            return value > expected
        if op == "gte":
            return value >= expected
        if op == "lt":
            return value < expected
        if op == "lte":
            return value <= expected
    except TypeError:
        return False
    return False
