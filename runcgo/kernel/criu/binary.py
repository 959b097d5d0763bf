"""Which criu to run, and whether it can work on this kernel at all.

``criu check`` is asked first, because a criu that can't work here (3.17 on a
kernel >= 6.13: "vdso: Unexpected rt vDSO area bounds", the ``[vvar_vclock]``
mapping it doesn't know) would otherwise fail half-way into a dump; the user
gets criu's own words and its version in one line, and the container is not
touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from ...errors import RuncgoError


class CriuError(RuncgoError):
    """CRIU is missing, refuses to work here, or failed a dump/restore."""


def version(exe: str) -> str:
    """``3.17.1`` (or ``unknown``): from ``criu --version``."""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    for line in out.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def locate(criu: str) -> str:
    """The absolute path of ``criu`` (a path, or a name looked up in PATH)."""
    exe = shutil.which(criu) if os.sep not in criu else (criu if os.access(criu, os.X_OK) else None)
    if exe is None:
        raise CriuError(f"CRIU is needed for checkpoint/restore: {criu!r} not found"
                        + ("" if os.sep in criu else " in PATH") + " (apt-get install criu)")
    return exe


def ready(criu: str) -> str:
    """The criu binary to use, once ``criu check`` says it can work on this kernel."""
    exe = locate(criu)
    try:
        out = subprocess.run([exe, "check"], capture_output=True, text=True, timeout=120,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CriuError(f"{exe} check: {exc}") from None
    if out.returncode != 0:
        lines = [ln.strip() for ln in (out.stderr + out.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if "rror" in ln] or lines or [f"exit status {out.returncode}"]
        raise CriuError(f"CRIU cannot work on this system ({exe} check, criu {version(exe)}): "
                        f"{errors[0]}")
    return exe
