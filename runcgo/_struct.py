"""Typed JSON structs for the OCI spec: decode with JSON-path errors, encode back.

A small replacement for msgspec.Struct: importing msgspec (with typing_extensions,
uuid, datetime, inspect) cost ~10-15 ms on every runcgo call; this costs ~1 ms.
Fields come from the class annotations (strings, thanks to ``from __future__
import annotations``) and are parsed once per class on first use.  JSON keys
are the camelCase form of the attribute name unless ``field(name=...)`` says
otherwise.  Unknown keys are ignored; a wrong type, a missing required field
or a ``null`` where none is allowed is a StructError naming the JSON path.
"""

from __future__ import annotations

import sys

from . import _json as json

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, ClassVar, TypeVar, dataclass_transform

    T = TypeVar("T")
else:
    from ._record import dataclass_transform  # the no-op stand-in

_MISSING: Any = object()
# Integers are int64 or uint64 in the OCI spec (Go's decoder refuses anything wider);
# fields with narrower ranges are checked by spec.validate.
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1
_PRIMITIVES = {"int": int, "str": str, "bool": bool, "float": float}


class StructError(ValueError):
    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class _Field:
    __slots__ = ("default", "factory", "name")

    def __init__(self, name: str | None, default: Any, factory: Callable[[], Any] | None) -> None:
        self.name, self.default, self.factory = name, default, factory


def field(*, name: str | None = None, default: Any = _MISSING,
          default_factory: Callable[[], Any] | None = None) -> Any:
    return _Field(name, default, default_factory)


def _camel(attr: str) -> str:
    head, *rest = attr.rstrip("_").split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


class _Meta:
    """Per-class field table: (attr, json key, annotation, default, factory)."""

    __slots__ = ("by_key", "fields", "types")

    def __init__(self, fields: list[tuple[str, str, str, Any, Callable[[], Any] | None]]) -> None:
        self.fields = fields
        self.by_key = {f[1]: f for f in fields}
        self.types: dict[str, Any] | None = None


@dataclass_transform(field_specifiers=(field,))
class Struct:
    """Base class: subclass with annotated fields (and defaults), like a dataclass."""

    __struct_meta__: ClassVar[_Meta]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = _meta(type(self)).fields
        values = dict(zip((f[0] for f in fields), args, strict=False))
        values.update(kwargs)
        for attr, _key, _ann, default, factory in fields:
            if attr in values:
                v = values.pop(attr)
            elif factory is not None:
                v = factory()
            elif default is not _MISSING:
                v = default
            else:
                raise TypeError(f"{type(self).__name__}: missing required argument {attr!r}")
            object.__setattr__(self, attr, v)
        if values:
            raise TypeError(f"{type(self).__name__}: unexpected arguments {sorted(values)}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f[0]) == getattr(other, f[0]) for f in _meta(type(self)).fields)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = (f"{f[0]}={getattr(self, f[0])!r}" for f in _meta(type(self)).fields)
        return f"{type(self).__name__}({', '.join(parts)})"


def _meta(cls: type) -> _Meta:
    """The class's field table, built on first use: the spec module defines
    ~40 classes, and most commands touch a few of them or none."""
    meta: _Meta | None = cls.__dict__.get("__struct_meta__")
    if meta is None:
        fields = []
        for attr, ann in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
            if ann.startswith("ClassVar"):
                continue
            raw = cls.__dict__.get(attr, _MISSING)
            if isinstance(raw, _Field):
                key, default, factory = raw.name or _camel(attr), raw.default, raw.factory
                delattr(cls, attr)
            else:
                key, default, factory = _camel(attr), raw, None
            fields.append((attr, key, ann, default, factory))
        meta = _Meta(fields)
        type.__setattr__(cls, "__struct_meta__", meta)
    return meta


# --- annotation strings -> decoders ----------------------------------------


def _split_top(text: str, sep: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == sep and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def _parse(ann: str, module: str) -> tuple[Any, ...]:
    parts = _split_top(ann, "|")
    if "None" in parts:
        rest = [p for p in parts if p != "None"]
        return ("opt", _parse(" | ".join(rest), module))
    if len(parts) > 1:
        raise TypeError(f"unsupported union {ann!r}")
    ann = parts[0]
    if ann in _PRIMITIVES:
        return ("prim", _PRIMITIVES[ann], ann)
    if ann == "Any":
        return ("any",)
    if ann.startswith("list[") and ann.endswith("]"):
        return ("list", _parse(ann[5:-1], module))
    if ann.startswith("dict[") and ann.endswith("]"):
        k, v = _split_top(ann[5:-1], ",")
        if k != "str":
            raise TypeError(f"dict keys must be str: {ann!r}")
        return ("dict", _parse(v, module))
    cls = getattr(sys.modules[module], ann, None)
    if not (isinstance(cls, type) and issubclass(cls, Struct)):
        raise TypeError(f"unknown type {ann!r}")
    return ("struct", cls)


def _types(cls: type[Struct]) -> dict[str, Any]:
    meta = _meta(cls)
    if meta.types is None:
        meta.types = {f[0]: _parse(f[2], cls.__module__) for f in meta.fields}
    return meta.types


def _json_type(v: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "str", list: "array",
            dict: "object", type(None): "null"}.get(type(v), type(v).__name__)


def _name(t: tuple[Any, ...]) -> str:
    kind = t[0]
    if kind == "prim":
        return str(t[2])
    if kind == "struct":
        return "object"
    if kind == "list":
        return "array"
    if kind == "dict":
        return "object"
    if kind == "opt":
        return _name(t[1]) + " | null"
    return "any"


def _conv(v: Any, t: tuple[Any, ...], path: str) -> Any:
    kind = t[0]
    if kind == "opt":
        return None if v is None else _conv(v, t[1], path)
    if kind == "any":
        return v
    if kind == "prim":
        want = t[1]
        ok = type(v) is want or (want is float and type(v) is int)
        if not ok:
            raise StructError(path, f"expected {t[2]}, got {_json_type(v)}")
        if want is str:
            if not v.isascii():
                _check_utf8(v, path)
            if "\0" in v:  # C strings (paths, argv, hostnames) would be cut short there
                raise StructError(path, "must not contain a NUL character")
        elif want is int and not _INT_MIN <= v <= _INT_MAX:
            raise StructError(path, f"{v} does not fit in 64 bits")
        return v
    if kind == "list":
        if type(v) is not list:
            raise StructError(path, f"expected array, got {_json_type(v)}")
        return [_conv(x, t[1], f"{path}[{i}]") for i, x in enumerate(v)]
    if kind == "dict":
        if type(v) is not dict:
            raise StructError(path, f"expected object, got {_json_type(v)}")
        for k in v:
            if not k.isascii():
                _check_utf8(k, f"{path} key {k!r}")
            if "\0" in k:
                raise StructError(f"{path} key {k!r}", "must not contain a NUL character")
        return {k: _conv(x, t[1], f"{path}.{k}") for k, x in v.items()}
    return from_dict(t[1], v, path)


def _check_utf8(v: str, path: str) -> None:
    """JSON's \\uXXXX escapes can spell a lone surrogate, which no kernel interface
    (argv, paths, environment) can carry: refuse it here, naming the field."""
    try:
        v.encode()
    except UnicodeEncodeError as exc:
        raise StructError(path, f"not valid Unicode: lone surrogate \\u{ord(v[exc.start]):04x} "
                                f"at character {exc.start}") from None


def from_dict(cls: type[Any], obj: Any, path: str = "$") -> Any:
    """Build ``cls`` from parsed JSON (``obj``); errors name the JSON path."""
    if type(obj) is not dict:
        raise StructError(path, f"expected object, got {_json_type(obj)}")
    types = _types(cls)
    inst = object.__new__(cls)
    for attr, key, _ann, default, factory in _meta(cls).fields:
        if key in obj:
            value = _conv(obj[key], types[attr], f"{path}.{key}")
        elif factory is not None:
            value = factory()
        elif default is not _MISSING:
            value = default
        else:
            raise StructError(f"{path}.{key}", "is required")
        object.__setattr__(inst, attr, value)
    return inst


def decode(data: bytes | str, cls: type[Any]) -> Any:
    """JSON text -> ``cls``; ValueError (json) or StructError on bad input."""
    return from_dict(cls, json.loads(data))


def to_builtins(obj: Any) -> Any:
    """Back to JSON-ready values (camelCase keys; fields at their default left out)."""
    if isinstance(obj, Struct):
        out = {}
        for attr, key, _ann, default, factory in _meta(type(obj)).fields:
            v = getattr(obj, attr)
            if v is None or (default is not _MISSING and v == default):
                continue
            if factory is not None and v == factory():
                continue
            out[key] = to_builtins(v)
        return out
    if isinstance(obj, list):
        return [to_builtins(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_builtins(x) for k, x in obj.items()}
    return obj


def replace(obj: T, **changes: Any) -> T:
    """A shallow copy with some fields changed."""
    new = object.__new__(type(obj))
    for f in _meta(type(obj)).fields:
        object.__setattr__(new, f[0], changes.pop(f[0], getattr(obj, f[0])))
    if changes:
        raise TypeError(f"{type(obj).__name__}: unknown fields {sorted(changes)}")
    return new


def encode(obj: Any) -> bytes:
    return json.dumps(to_builtins(obj)).encode()  # field order: deterministic
