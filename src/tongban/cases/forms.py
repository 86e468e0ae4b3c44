"""Application forms generated from a published item's JSON Schema (and its layout hints)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import QueryDict


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
        kind = _kind(prop)
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
            )
        )
    return result


def _kind(prop: dict[str, Any]) -> str:
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
    if widget in ("textarea", "address") or prop.get("maxLength", 0) > 100:
        return "textarea"
    return "text"


def answers_from_post(schema: dict[str, Any], post: QueryDict) -> dict[str, Any]:
    """Typed answers; what cannot be converted is kept as typed so that validation names the field."""
    answers: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        kind = _kind(prop)
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
            answers[name] = int(raw) if raw.lstrip("-").isdigit() else raw
        elif kind == "number":
            try:
                answers[name] = float(raw)
            except ValueError:
                answers[name] = raw
        else:
            answers[name] = raw
    return answers
