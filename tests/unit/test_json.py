"""runcgo._json must read and write exactly what the stdlib json does."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runcgo import _json

values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text() |
    st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(values)
def test_round_trip_matches_stdlib(v) -> None:
    assert _json.dumps(v) == json.dumps(v, separators=(",", ":"))
    assert _json.dumps(v, indent=2) == json.dumps(v, indent=2)
    assert _json.loads(json.dumps(v)) == json.loads(json.dumps(v))
    assert _json.loads(json.dumps(v, indent=4).encode()) == v or v != v


@pytest.mark.parametrize("bad", ["", "{", '{"a":}', "[1,]", "nul", "1 2", '{"a":1}x', "NaN"])
def test_invalid_documents(bad: str) -> None:
    with pytest.raises(ValueError):
        _json.loads(bad)


def test_whitespace_and_bytes() -> None:
    assert _json.loads(b'  \n {"a": [1, 2.5, "\\u00e9"]}\n ') == {"a": [1, 2.5, "é"]}
    for bad_key in ({(1, 2): 3}, {b"k": 1}):
        for indent in (None, 2):
            with pytest.raises(TypeError, match="keys must be str, int, float, bool or None"):
                _json.dumps(bad_key, indent=indent)
    for indent in (None, 2):
        for bad in (float("nan"), [1.0, {"a": float("inf")}], {float("-inf"): 1}):
            with pytest.raises(ValueError, match="not JSON compliant"):
                _json.dumps(bad, indent=indent)
        with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
            _json.dumps({"a": [{1}]}, indent=indent)
        nested: list[object] = []
        for _ in range(100_000):
            nested = [nested]
        with pytest.raises(RecursionError):
            _json.dumps(nested, indent=indent)


keys = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=8) | st.floats(
    allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, values, max_size=6))
def test_non_string_keys_as_the_stdlib(d) -> None:
    """int, float, bool and None keys are written as the stdlib writes them."""
    assert _json.dumps(d) == json.dumps(d, separators=(",", ":"))
    assert _json.dumps(d, indent=3) == json.dumps(d, indent=3)
