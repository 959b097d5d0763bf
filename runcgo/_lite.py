"""Import-free stand-ins for two stdlib helpers.

Every runcgo command is a fresh interpreter, and Docker runs four of them per
container.  ``contextlib`` pulls in ``collections``, ``functools`` and
``types`` (about 1.5 ms here), more than some commands spend on their work;
these few lines do what the CLI needs of it.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import SimpleNamespace, TracebackType
else:
    SimpleNamespace = type(sys.implementation)  # types.SimpleNamespace, without ``types``

__all__ = ["SimpleNamespace", "suppress"]


class suppress:
    """``with suppress(OSError): ...`` -- contextlib.suppress."""

    __slots__ = ("_kinds",)

    def __init__(self, *kinds: type[BaseException]) -> None:
        self._kinds = kinds

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> bool:
        return kind is not None and issubclass(kind, self._kinds)
