"""runcgo._json on malformed input: it must refuse exactly what the stdlib refuses,
accept exactly what it accepts (with the same value), and fail only with a one-line
JSONError (a ValueError) that says where -- never SystemError, RecursionError or a
UnicodeDecodeError escaping to the CLI as a traceback.

The reference is ``json.loads`` on the UTF-8 text with NaN/Infinity refused: runc's
Go decoder refuses them too, and a byte-order mark or non-UTF-8 bytes are errors
there as well (the stdlib's bytes sniffing for UTF-16/32 is not a runtime's job).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runcgo import _json
from runcgo.spec import default_spec

_REFUSED = object()


def _no_constants(name: str) -> Any:
    raise ValueError(name)


def reference(data: str | bytes) -> Any:
    """What the stdlib makes of ``data`` (``_REFUSED`` if it refuses it)."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return _REFUSED


def same(a: Any, b: Any) -> bool:
    """Equal values of equal JSON types (1 vs 1.0 and True vs 1 differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def check(data: str | bytes) -> None:
    """The property: same verdict as the stdlib, same value, one-line error with a place."""
    want = reference(data)
    try:
        got = _json.loads(data)
    except _json.JSONError as exc:
        assert want is _REFUSED, f"stdlib accepts {data!r} -> {want!r}, we refused: {exc}"
        msg = str(exc)
        assert "\n" not in msg and msg.startswith("invalid JSON"), msg
        return
    assert want is not _REFUSED, f"stdlib refuses {data!r}, we returned {got!r}"
    assert same(got, want), (data, got, want)


CONFIG = json.dumps(default_spec(), indent=2)


def test_every_truncation_of_a_realistic_config() -> None:
    for n in range(len(CONFIG)):
        check(CONFIG[:n])
        check(CONFIG[:n].encode())
    check(CONFIG)


def test_truncation_errors_name_the_offset() -> None:
    with pytest.raises(_json.JSONError) as info:
        _json.loads(CONFIG[:200])
    assert info.value.pos is not None and info.value.pos <= 200
    assert f"at offset {info.value.pos} (line " in str(info.value)


@pytest.mark.parametrize("doc", [
    # bad escapes
    r'"\x41"', r'"\u12"', r'"\u12G4"', r'"\"', r'"\ "', r'"\U0041"', r'"\0"', '"\\',
    r'"\/\b\f\n\r\t\"\\"', r'"\u0041\u00e9"',
    # surrogates: the stdlib keeps lone ones and joins pairs
    r'"\ud800"', r'"\udc00"', r'"\ud83d\ude00"', r'"\ude00\ud83d"', r'"\ud800\u0041"',
    r'"\ud800\"', r'"\ud800\u"', r'"\ud800\uZZZZ"',
    # control characters in strings
    '"a\nb"', '"a\tb"', '"\x00"', '"\x1f"', '"\x7f"',
    # constants and numbers
    "NaN", "-NaN", "Infinity", "-Infinity", "[NaN]", '{"a": Infinity}', "nan", "inf",
    "true", "false", "null", "True", "nul", "tru", "1", "-0", "-", "+1", "01", "1.", ".5",
    "1e", "1e+", "1E5", "1e400", "-1e400", "1e-400", "0x10", "1_000", "12345678901234567890",
    "1" * 4300, "1" * 4301, "-" + "9" * 5000, "1." + "0" * 5000, "1e" + "9" * 5000,
    # structure
    "", " ", "\n\t\r ", "[", "]", "{", "}", "[1,]", "[,1]", "[1 2]", '{"a"}', '{"a":}',
    '{"a" 1}', '{a: 1}', "{'a': 1}", '{"a": 1,}', '{"a": 1 "b": 2}', "[][]", "{}{}",
    "[] x", "1 2", '"a" "b"', "[]\x00", "[]\v", "\v[]", "\f[]", "\u00a0[]", "[]\u2028",
    "/* c */ []", "[] // c",
    # duplicate keys: the last one wins
    '{"a": 1, "a": 2}', '{"a": {"b": 1}, "a": [2]}', '{"": 1, "": 2}',
    # wrong top-level types are still JSON
    '"config"', "42", "[1, 2]", "null",
    # byte-order marks
    "\ufeff{}", "\ufeff", "{}\ufeff",
])
def test_malformed_and_edge_documents(doc: str) -> None:
    check(doc)
    check(doc.encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize("raw", [
    b"\xff", b'"\xff"', b'{"a": "\xc3"}', b'"\xc3\x28"', b'"\xed\xa0\x80"', b'"\xf8\x88\x80\x80\x80"',
    b"\xef\xbb\xbf{}", b"\xfe\xff\x00{\x00}", b'{"a": 1}\x80', b'"\xe2\x82"', b"\x00[]",
    '"é"'.encode(), '"😀"'.encode(), '{"κλειδί": "τιμή"}'.encode(),
    '"é"'.encode("latin-1"), '[]'.encode("utf-16"), '[]'.encode("utf-32"),
])
def test_bytes_and_encodings(raw: bytes) -> None:
    check(raw)


def test_non_utf8_error_names_the_byte_and_offset() -> None:
    with pytest.raises(_json.JSONError) as info:
        _json.loads(b'{"a": "\xff"}')
    assert str(info.value) == "invalid JSON at offset 7 (line 1, column 8): invalid UTF-8 byte 0xff"


@pytest.mark.parametrize("depth", [1, 10, 100, 300])
def test_nesting_accepted(depth: int) -> None:
    check("[" * depth + "]" * depth)
    check('{"a":' * depth + "1" + "}" * depth)


@pytest.mark.parametrize("depth", [10_000, 100_000, 1_000_000])
def test_deep_nesting_is_a_json_error_not_recursion(depth: int) -> None:
    for doc in ("[" * depth + "]" * depth, "[" * depth, '{"a":' * depth):
        with pytest.raises(_json.JSONError, match=r"nested too deeply|offset"):
            _json.loads(doc)


def test_huge_numbers() -> None:
    assert _json.loads("1" * 4300) == int("1" * 4300)
    with pytest.raises(_json.JSONError, match="4300 digits"):
        _json.loads("[" + "1" * 4301 + "]")
    assert _json.loads("1e400") == math.inf  # the stdlib's value too (float("1e400"))
    assert _json.loads("123456789012345678901234567890") == 123456789012345678901234567890


def test_wrong_top_level_types_are_values() -> None:
    for doc, value in (('"x"', "x"), ("1", 1), ("[]", []), ("null", None), ("true", True)):
        assert _json.loads(doc) == value


def test_no_stdlib_json_on_the_success_path() -> None:
    """The point of the module: a valid document never imports the json package."""
    import subprocess
    import sys

    code = ("import sys; from runcgo import _json; _json.loads(b'{\"a\": [1, 2.5, \"x\"]}');"
            "print('json' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]


json_text = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=15).map(json.dumps)


@settings(max_examples=300, deadline=None)
@given(json_text, st.data())
def test_mutated_documents_match_stdlib(doc: str, data: st.DataObject) -> None:
    """Valid documents with one edit (cut, insert, delete, replace a character)."""
    alphabet = st.sampled_from([*'{}[]",:\\ \n0123456789.eE+-tfnrulsaNI\x00\ud800\ufeff', "\\u", "\\ud800"])
    pos = data.draw(st.integers(0, len(doc)))
    how = data.draw(st.sampled_from(["cut", "insert", "delete", "replace"]))
    if how == "cut":
        doc = doc[:pos]
    elif how == "insert":
        doc = doc[:pos] + data.draw(alphabet) + doc[pos:]
    elif how == "delete":
        doc = doc[:pos] + doc[pos + 1:]
    else:
        doc = doc[:pos] + data.draw(alphabet) + doc[pos + 1:]
    check(doc)
    check(doc.encode("utf-8", "surrogatepass"))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_random_bytes_match_stdlib(raw: bytes) -> None:
    check(raw)
