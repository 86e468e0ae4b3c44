"""GB/T 36904 identifiers: what is made parses back, and any one changed character is caught."""

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tongban.core import codes

ALNUM = string.digits + string.ascii_uppercase


def _uscc() -> str:
    body = "MA2ABCDE"
    return codes.make_uscc("9", "1", "339900", body)


type_codes = st.text(alphabet=ALNUM, min_size=21, max_size=21)
serials = st.text(alphabet=ALNUM, min_size=1, max_size=40)


@settings(max_examples=300)
@given(type_codes, serials, st.integers(min_value=1, max_value=999))
def test_made_identifiers_parse_back(type_code, serial, version):
    issuer = _uscc()
    identifier = codes.make_licence_identifier(type_code, issuer, serial, version)
    parsed = codes.parse_licence_identifier(identifier)
    assert (parsed.type_code, parsed.issuer_code, parsed.serial, int(parsed.version)) == (
        type_code,
        issuer,
        serial,
        version,
    )
    assert str(parsed) == identifier


@settings(max_examples=300)
@given(type_codes, serials, st.data())
def test_any_single_substitution_is_rejected(type_code, serial, data):
    identifier = codes.make_licence_identifier(type_code, _uscc(), serial, 1)
    prefix = len(codes.LICENCE_OID_PREFIX) + 1
    position = data.draw(st.integers(min_value=prefix, max_value=len(identifier) - 1))
    if identifier[position] == ".":
        return
    replacement = data.draw(st.sampled_from([c for c in ALNUM if c != identifier[position]]))
    forged = identifier[:position] + replacement + identifier[position + 1 :]
    with pytest.raises(codes.CodeError):
        codes.parse_licence_identifier(forged)
