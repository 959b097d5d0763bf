"""runcgo: an OCI container runtime in Python, runc-compatible, with an async API.

Importing the package is cheap: the CLI commands Docker calls on every
container must not pay for anyio or trio.  The API names (``runcgo.Runtime``
...) are loaded on first attribute access, from :mod:`runcgo.api`.
"""

from __future__ import annotations

from .version import __version__

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the CLI must not pay for importing typing here

if TYPE_CHECKING:
    from .api import (
        ConfigError as ConfigError,
    )
    from .api import (
        Container as Container,
    )
    from .api import (
        ContainerExists as ContainerExists,
    )
    from .api import (
        ContainerNotFound as ContainerNotFound,
    )
    from .api import (
        ContainerNotRunning as ContainerNotRunning,
    )
    from .api import (
        Event as Event,
    )
    from .api import (
        EventStream as EventStream,
    )
    from .api import (
        ExecProcess as ExecProcess,
    )
    from .api import (
        InvalidArgument as InvalidArgument,
    )
    from .api import (
        InvalidState as InvalidState,
    )
    from .api import (
        RuncgoError as RuncgoError,
    )
    from .api import (
        Runtime as Runtime,
    )
    from .api import (
        SetupError as SetupError,
    )
    from .api import (
        State as State,
    )

_API = frozenset({
    "ConfigError", "Container", "ContainerExists", "ContainerNotFound", "ContainerNotRunning",
    "Event", "EventStream", "ExecProcess", "InvalidArgument", "InvalidState", "Runtime",
    "RuncgoError", "SetupError", "State",
})

__all__ = ["__version__", *sorted(_API)]


def __getattr__(name: str) -> object:
    if name in _API:
        from . import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'runcgo' has no attribute {name!r}")
