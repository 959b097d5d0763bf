"""The async Python API: embed runcgo in asyncio or trio code (via anyio).

    async with runcgo.Runtime() as rt:
        async with rt.run("web", "/bundles/web", stdio="pipe") as c:
            async for chunk in c.stdout: ...

See docs/api.md.  Importing this package imports anyio; ``import runcgo``
alone does not (the CLI must stay cheap).
"""

from __future__ import annotations

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
