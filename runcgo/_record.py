"""A minimal ``@dataclass`` for plain record classes, without importing dataclasses.

``dataclasses`` pulls in ``inspect`` (+ enum, ast, dis...): ~5 ms on every
runcgo call, and Docker makes four calls per container.  Our records need only
an ``__init__`` with defaults, ``__repr__`` and ``__eq__``; PEP 681's
``dataclass_transform`` tells type checkers what the decorator does.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:
    def dataclass_transform(**_kw: object) -> object:
        return lambda f: f

_MISSING: Any = object()


class _Field:
    __slots__ = ("default", "factory")

    def __init__(self, default: Any, factory: Callable[[], Any] | None) -> None:
        self.default = default
        self.factory = factory


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | None = None) -> Any:
    return _Field(default, default_factory)


def _make(cls: type[T], frozen: bool) -> type[T]:
    names = tuple(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063 (no inspect: that is the point)
    defaults: dict[str, _Field] = {}
    for n in names:
        if n in cls.__dict__:
            d = cls.__dict__[n]
            defaults[n] = d if isinstance(d, _Field) else _Field(d, None)
            if isinstance(d, _Field):
                delattr(cls, n)  # the instance attribute is always set by __init__
    setter = object.__setattr__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__}() takes {len(names)} arguments, got {len(args)}")
        values = dict(zip(names, args, strict=False))
        for k, v in kwargs.items():
            if k not in names or k in values:
                raise TypeError(f"{cls.__name__}() got an unexpected or repeated argument {k!r}")
            values[k] = v
        for n in names:
            if n in values:
                v = values[n]
            elif n in defaults:
                d = defaults[n]
                v = d.factory() if d.factory is not None else d.default
            else:
                raise TypeError(f"{cls.__name__}() missing argument {n!r}")
            setter(self, n, v)

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
        return f"{cls.__name__}({inner})"

    def __eq__(self: Any, other: Any) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in names)

    cls.__init__ = __init__  # type: ignore[misc,method-assign]
    cls.__repr__ = __repr__  # type: ignore[assignment,method-assign]
    cls.__eq__ = __eq__  # type: ignore[assignment,method-assign]
    cls.__record_fields__ = names  # type: ignore[attr-defined]
    if frozen:
        def __setattr__(self: Any, name: str, value: Any) -> None:
            raise AttributeError(f"{cls.__name__} is frozen")

        cls.__setattr__ = __setattr__  # type: ignore[assignment,method-assign]
        cls.__hash__ = lambda self: hash(tuple(getattr(self, n) for n in names))  # type: ignore[assignment,method-assign]
    else:
        cls.__hash__ = None  # type: ignore[assignment]
    return cls


@dataclass_transform(field_specifiers=(field,))
def record(cls: type[T] | None = None, *, frozen: bool = False) -> Any:
    """``@record`` / ``@record(frozen=True)``: like ``@dataclass`` for simple records."""
    if cls is None:
        return lambda c: _make(c, frozen)
    return _make(cls, frozen)


def asdict(obj: Any) -> dict[str, Any]:
    """Shallow: our records hold JSON-ready values."""
    return {n: getattr(obj, n) for n in obj.__record_fields__}
