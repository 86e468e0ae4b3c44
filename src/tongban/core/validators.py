"""Django validators wrapping tongban.core.codes, for model and form fields."""

from django.core.exceptions import ValidationError

from . import codes


def _wrap(parse):  # type: ignore[no-untyped-def]
    def validator(value: str) -> None:
        try:
            parse(value)
        except codes.CodeError as exc:
            raise ValidationError(exc.message, code=exc.code) from None

    validator.__name__ = validator.__qualname__ = f"validate_{parse.__name__.removeprefix('parse_')}"
    return validator


validate_resident_id = _wrap(codes.parse_resident_id)
validate_uscc = _wrap(codes.parse_uscc)
validate_org_code = _wrap(codes.parse_org_code)
validate_licence_identifier = _wrap(codes.parse_licence_identifier)


def validate_area_code(value: str) -> None:
    try:
        codes.parse_area_code(value, allow_township=True)
    except codes.CodeError as exc:
        raise ValidationError(exc.message, code=exc.code) from None
