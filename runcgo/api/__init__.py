"""The async Python API: embed runcgo in asyncio or trio code (via anyio).

    async with runcgo.Runtime() as rt:
        async with rt.run("web", "/bundles/web", stdio="pipe") as c:
            async for chunk in c.stdout: ...

See docs/api.md.  The names load on first use, anyio with them: ``import runcgo``
alone does not import it (the CLI must stay cheap), nor does the fork server.
"""

from __future__ import annotations

TYPE_CHECKING = False  # the fork server imports runcgo.api._forkserver: no anyio there
if TYPE_CHECKING:
    from ..errors import (
        ConfigError,
        ContainerExists,
        ContainerNotFound,
        ContainerNotRunning,
        InvalidArgument,
        InvalidState,
        RuncgoError,
        SetupError,
    )
    from ..state import ContainerState as State
    from ._runtime import Container, Event, EventStream, ExecProcess, Runtime, Stdio

__all__ = [
    "ConfigError",
    "Container",
    "ContainerExists",
    "ContainerNotFound",
    "ContainerNotRunning",
    "Event",
    "EventStream",
    "ExecProcess",
    "InvalidArgument",
    "InvalidState",
    "RuncgoError",
    "Runtime",
    "SetupError",
    "State",
    "Stdio",
]


_ERRORS = frozenset({"ConfigError", "ContainerExists", "ContainerNotFound", "ContainerNotRunning",
                     "InvalidArgument", "InvalidState", "RuncgoError", "SetupError"})


def __getattr__(name: str) -> object:
    """The names load on first use: ``python -m runcgo.api._forkserver`` runs this
    package's ``__init__`` first, and the fork server must not import anyio (a bigger
    heap is more page-table copying and copy-on-write faults in every fork)."""
    if name in _ERRORS:
        from .. import errors

        value: object = getattr(errors, name)
    elif name == "State":
        from ..state import ContainerState

        value = ContainerState
    elif name in __all__:
        from . import _runtime

        value = getattr(_runtime, name)
    else:
        raise AttributeError(f"module 'runcgo.api' has no attribute {name!r}")
    globals()[name] = value
    return value
