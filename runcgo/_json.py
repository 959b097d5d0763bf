"""JSON without ``import json``: the stdlib package imports ``re`` (and both cost
~3-4 ms on every runcgo call, and Docker makes four per container).

Decoding uses the C scanner that the stdlib itself uses (``_json.make_scanner``);
encoding is a small recursive writer on top of ``_json.encode_basestring_ascii``.
Output matches ``json.dumps(obj, separators=(",", ":"))`` (or ``indent=N`` with
the stdlib's ``", "``/``": "`` separators).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any


try:
    import _json

    _encode_str = _json.encode_basestring_ascii
except ImportError:  # pragma: no cover - an interpreter without the accelerator
    from json import encoder as _enc  # type: ignore[no-redef]

    _json = None  # type: ignore[assignment]
    _encode_str = _enc.encode_basestring_ascii

_WS = " \t\n\r"


class _Context:
    """What the C scanner reads from json.JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict[str, str] = {}

    @staticmethod
    def parse_constant(name: str) -> float:
        raise ValueError(f"invalid JSON constant {name}")


_scan = _json.make_scanner(_Context()) if _json is not None else None  # type: ignore[arg-type]


class JSONError(ValueError):
    """A document that is not JSON: ``pos`` is the character offset of the fault,
    ``msg`` the stdlib's wording for it.  One line, so callers can prefix the file."""

    def __init__(self, msg: str, text: str = "", pos: int | None = None) -> None:
        self.msg, self.pos = msg, pos
        where = ""
        if pos is not None:
            line = text.count("\n", 0, pos) + 1
            col = pos - text.rfind("\n", 0, pos)
            where = f" at offset {pos} (line {line}, column {col})"
        super().__init__(f"invalid JSON{where}: {msg}")


def loads(data: str | bytes) -> Any:
    """Parse one JSON document (RFC 8259: no NaN/Infinity); JSONError if it isn't one.

    Accepts exactly what ``json.loads`` accepts on the same UTF-8 text (with NaN and
    Infinity refused, as Go's decoder refuses them) and returns the same value.
    """
    if isinstance(data, bytes | bytearray):
        try:
            text = data.decode()
        except UnicodeDecodeError as exc:
            bad = data[exc.start:exc.start + 1].hex()
            raise JSONError(f"invalid UTF-8 byte 0x{bad}", "", exc.start) from None
    else:
        text = data
    if _scan is None:  # pragma: no cover
        return _stdlib_loads(text)
    i, n = 0, len(text)
    while i < n and text[i] in _WS:
        i += 1
    try:
        obj, end = _scan(text, i)
    except (StopIteration, SystemError, RecursionError, ValueError):
        # The C scanner reports most faults through json.decoder.JSONDecodeError,
        # which it only finds if json.decoder is already imported (otherwise: a
        # SystemError with no message).  Faults are rare: ask the stdlib, once.
        _stdlib_loads(text)
        raise JSONError("unexpected error", text, i) from None  # pragma: no cover
    while end < n and text[end] in _WS:
        end += 1
    if end != n:
        raise JSONError("extra data after the document", text, end)
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _stdlib_loads(text: str) -> Any:
    """The stdlib decoder with our strictness; its errors become one-line JSONErrors."""
    import json

    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        msg = exc.msg[:1].lower() + exc.msg[1:]
        if msg.startswith("unexpected UTF-8 BOM"):
            msg = "a byte-order mark is not allowed"
        raise JSONError(msg, text, exc.pos) from None
    except RecursionError:
        raise JSONError("nested too deeply") from None
    except ValueError as exc:  # NaN/Infinity, or an integer with too many digits
        raise JSONError(str(exc).split(";")[0]) from None


def _not_serializable(obj: Any) -> Any:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


# The stdlib's own C encoder, compact separators, no circular check (a cycle is a
# RecursionError, as in _write): ~10x the speed of _write, which only does indent=N.
_c_encode = (_json.make_encoder(None, _not_serializable, _encode_str, None, ":", ",", False,
                                False, False) if _json is not None else None)


def dumps(obj: Any, indent: int | None = None) -> str:
    """``json.dumps(obj, separators=(",", ":"))``, or with ``indent``
    ``json.dumps(obj, indent=indent)``: the same text and the same errors."""
    if indent is None and _c_encode is not None:
        try:
            return "".join(_c_encode(obj, 0))
        except ValueError:  # NaN/Infinity: say it as _write does
            pass
    out: list[str] = []
    _write(obj, out, indent, 0)
    return "".join(out)


def _key(k: Any) -> str:
    """A dict key as the stdlib writes it: str as is; float, bool, None, int as JSON text."""
    if isinstance(k, str):
        return k
    if isinstance(k, float):
        return _float(k)
    if k is True:
        return "true"
    if k is False:
        return "false"
    if k is None:
        return "null"
    if isinstance(k, int):
        return int.__repr__(k)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(k).__name__}")


def _float(v: float) -> str:
    if v != v or v in (float("inf"), float("-inf")):
        raise ValueError(f"Out of range float values are not JSON compliant: {v!r}")
    return float.__repr__(v)


def _write(obj: Any, out: list[str], indent: int | None, level: int) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, str):
        out.append(_encode_str(obj))
    elif isinstance(obj, int):
        out.append(int.__repr__(obj))
    elif isinstance(obj, float):
        out.append(_float(obj))
    elif isinstance(obj, dict):
        if not obj:
            out.append("{}")
            return
        sep, nl = _seps(indent, level + 1)
        out.append("{")
        first = True
        for k, v in obj.items():
            out.append(nl if first else sep)
            first = False
            out.append(_encode_str(_key(k)))
            out.append(": " if indent is not None else ":")
            _write(v, out, indent, level + 1)
        out.append(_seps(indent, level)[1] + "}")
    elif isinstance(obj, list | tuple):
        if not obj:
            out.append("[]")
            return
        sep, nl = _seps(indent, level + 1)
        out.append("[")
        for i, v in enumerate(obj):
            out.append(nl if i == 0 else sep)
            _write(v, out, indent, level + 1)
        out.append(_seps(indent, level)[1] + "]")
    else:
        _not_serializable(obj)


def _seps(indent: int | None, level: int) -> tuple[str, str]:
    """(item separator, newline+indent before an item or the closing bracket)."""
    if indent is None:
        return ",", ""
    nl = "\n" + " " * (indent * level)
    return "," + nl, nl
