"""runcgo: an OCI container runtime in Python, runc-compatible, with an async API.

Importing the package is cheap: the CLI commands Docker calls on every
container must not pay for anyio or trio.
"""

from .version import __version__

__all__ = ["__version__"]
