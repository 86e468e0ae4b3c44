"""Application forms generated from a published item's JSON Schema (and its layout hints)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.http import QueryDict

from tongban.catalog.fields import field_kind, max_length, number_range

# What a person types into a number field: plain decimal digits, no exponent, no inf/nan, no "1_000", no
# other scripts' digits (str.isdigit() accepts "²", which int() then refuses).
_INTEGER = re.compile(r"-?[0-9]{1,16}")
_NUMBER = re.compile(r"-?[0-9]{1,16}(?:\.[0-9]{1,12})?")


@dataclass
class Field:
    name: str
    title: str
    kind: str  # text, textarea, date, number, integer, select, checkbox, multi
    value: Any
    required: bool
    prefilled: bool
    options: list[str]
    error: str
    help: str
    group: str
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None

    @property
    def id(self) -> str:
        return f"f-{self.name}"


def fields(
    schema: dict[str, Any], values: dict[str, Any], errors: dict[str, str], prefilled: set[str]
) -> list[Field]:
    properties = schema.get("properties", {})
    order = schema.get("x-order") or list(properties)
    order += [n for n in properties if n not in order]
    required = set(schema.get("required", []))
    result = []
    for name in order:
        prop = properties[name]
        kind = field_kind(prop)
        low, high = number_range(prop) if kind in ("number", "integer") else (None, None)
        result.append(
            Field(
                name=name,
                title=prop.get("title", name),
                kind=kind,
                value=values.get(name, [] if kind == "multi" else ""),
                required=name in required,
                prefilled=name in prefilled,
                options=list(prop.get("enum") or prop.get("items", {}).get("enum") or []),
                error=errors.get(name, ""),
                help=prop.get("x-help", ""),
                group=prop.get("x-group", ""),
                max_length=max_length(prop) if kind in ("text", "textarea") else None,
                minimum=low,
                maximum=high,
            )
        )
    return result


def answers_from_post(schema: dict[str, Any], post: QueryDict) -> dict[str, Any]:
    """Typed answers; what cannot be converted is kept as typed so that validation names the field."""
    answers: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        kind = field_kind(prop)
        if kind == "multi":
            values = post.getlist(name)
            if values:
                answers[name] = values
            continue
        if kind == "checkbox":
            answers[name] = post.get(name) in ("on", "true", "1")
            continue
        raw = (post.get(name) or "").strip()
        if raw == "":
            continue
        if kind == "integer":
            answers[name] = int(raw) if _INTEGER.fullmatch(raw) else raw
        elif kind == "number":
            answers[name] = float(raw) if _NUMBER.fullmatch(raw) else raw
        else:
            answers[name] = raw
    return answers
