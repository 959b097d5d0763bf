"""Which criu to run, and whether it can work on this kernel at all.

``criu check`` is asked first, because a criu that can't work here (3.17 on a
kernel >= 6.13: "vdso: Unexpected rt vDSO area bounds", the ``[vvar_vclock]``
mapping it doesn't know) would otherwise fail half-way into a dump; the user
gets criu's own words and its version in one line, and the container is not
touched.
"""

from __future__ import annotations

import os

from ...errors import RuncgoError
from .. import command


class CriuError(RuncgoError):
    """CRIU is missing, refuses to work here, or failed a dump/restore."""


def version(exe: str) -> str:
    """``3.17.1`` (or ``unknown``): from ``criu --version``."""
    try:
        out = command.run([exe, "--version"], timeout=30).stdout
    except (OSError, TimeoutError):
        return "unknown"
    for line in out.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def locate(criu: str) -> str:
    """The absolute path of ``criu`` (a path, or a name looked up in PATH)."""
    exe = command.which(criu)
    if exe is None:
        raise CriuError(f"CRIU is needed for checkpoint/restore: {criu!r} not found"
                        + ("" if os.sep in criu else " in PATH") + " (apt-get install criu)")
    return exe


def ready(criu: str) -> str:
    """The criu binary to use, once ``criu check`` says it can work on this kernel."""
    exe = locate(criu)
    try:
        out = command.run([exe, "check"], timeout=120)
    except TimeoutError:
        raise CriuError(f"{exe} check: timed out after 120 s") from None
    except OSError as exc:
        raise CriuError(f"{exe} check: {exc.strerror}") from None
    if out.returncode != 0:
        lines = [ln.strip() for ln in (out.stderr + out.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if "rror" in ln] or lines or [f"exit status {out.returncode}"]
        raise CriuError(f"CRIU cannot work on this system ({exe} check, criu {version(exe)}): "
                        f"{errors[0]}")
    return exe
