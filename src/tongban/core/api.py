"""Code validation as a service for forms and other systems: one place that knows the standards."""

from typing import Literal

from ninja import Router, Schema

from . import codes

router = Router(tags=["core"])


class CodeIn(Schema):
    kind: Literal["resident_id", "uscc", "org_code", "licence_identifier", "area_code"]
    value: str


class CodeOut(Schema):
    valid: bool
    value: str
    error_code: str | None = None
    message: str | None = None
    details: dict[str, str] = {}


def _details(kind: str, value: str) -> tuple[str, dict[str, str]]:
    if kind == "resident_id":
        rid = codes.parse_resident_id(value)
        return rid.number, {
            "area_code": rid.area_code,
            "birth_date": rid.birth_date.isoformat(),
            "sex": rid.sex,
        }
    if kind == "uscc":
        cc = codes.parse_uscc(value)
        return cc.code, {
            "registration_authority": cc.registration_authority,
            "category": cc.category,
            "area_code": cc.area_code,
            "org_code": cc.org_code,
        }
    if kind == "org_code":
        return codes.parse_org_code(value), {}
    if kind == "licence_identifier":
        lid = codes.parse_licence_identifier(value)
        return str(lid), {
            "type_code": lid.type_code,
            "issuer_code": lid.issuer_code,
            "serial": lid.serial,
            "version": lid.version,
        }
    area = codes.parse_area_code(value, allow_township=True)
    return area.code, {"level": area.level}


@router.post(
    "/codes/validate", response=CodeOut, summary="Validate a national code (ID number, credit code …)"
)
def validate_code(request, payload: CodeIn) -> CodeOut:  # type: ignore[no-untyped-def]
    try:
        value, details = _details(payload.kind, payload.value)
    except codes.CodeError as exc:
        return CodeOut(valid=False, value=payload.value[:100], error_code=exc.code, message=exc.message)
    return CodeOut(valid=True, value=value, details=details)
