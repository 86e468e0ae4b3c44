"""The fast canonical JSON is byte for byte what the rfc8785 package gives, for every value."""

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from tongban.core.canonical import canonical_json

scalars = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text()
plain = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet=st.characters(max_codepoint=127), max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
anything = st.recursive(
    scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400)
@given(plain)
def test_plain_values_take_the_fast_way_and_agree(value):
    assert canonical_json(value) == rfc8785.dumps(value)


@settings(max_examples=200)
@given(anything)
def test_any_value_agrees(value):
    assert canonical_json(value) == rfc8785.dumps(value)


def test_control_characters_and_chinese():
    value = {"b": '临江\n\t\x01\x7f\u2028"\\', "a": [1, None, True], "é": 1.5}
    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_json({"z": "通办", "a": "\x1f"}) == '{"a":"\\u001f","z":"通办"}'.encode()
