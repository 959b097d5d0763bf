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


def loads(data: str | bytes) -> Any:
    """Parse one JSON document; ValueError (with the offset) if it isn't one."""
    if _scan is None:  # pragma: no cover
        import json

        return json.loads(data)
    text = data.decode() if isinstance(data, bytes | bytearray) else data
    i, n = 0, len(text)
    while i < n and text[i] in _WS:
        i += 1
    try:
        obj, end = _scan(text, i)
    except StopIteration as stop:
        raise ValueError(f"invalid JSON at offset {stop.value}") from None
    while end < n and text[end] in _WS:
        end += 1
    if end != n:
        raise ValueError(f"extra data after JSON at offset {end}")
    return obj


def dumps(obj: Any, indent: int | None = None) -> str:
    out: list[str] = []
    _write(obj, out, indent, 0)
    return "".join(out)


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
        if obj != obj or obj in (float("inf"), float("-inf")):
            raise ValueError(f"{obj!r} is not valid JSON")
        out.append(float.__repr__(obj))
    elif isinstance(obj, dict):
        if not obj:
            out.append("{}")
            return
        sep, nl = _seps(indent, level + 1)
        out.append("{")
        first = True
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"JSON object keys must be str, not {type(k).__name__}")
            out.append(nl if first else sep)
            first = False
            out.append(_encode_str(k))
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
        raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _seps(indent: int | None, level: int) -> tuple[str, str]:
    """(item separator, newline+indent before an item or the closing bracket)."""
    if indent is None:
        return ",", ""
    nl = "\n" + " " * (indent * level)
    return "," + nl, nl
