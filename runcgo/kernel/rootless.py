"""Rootless mode: who counts as unprivileged, and where its state lives.

runc 1.1.5 decides twice, and so do we:

* *rootless EUID* -- ``geteuid() != 0``.  Nothing to choose: the kernel will
  refuse what needs real root (mknod, cgroup directories we don't own, the
  ping group range ...), so the config must carry a user namespace, and the
  uid/gid maps follow the unprivileged rules (idmap.py).
* *rootless cgroups* -- ``--rootless auto|true|false``.  ``auto``: rootless
  when the EUID is not 0, or when root inside a user namespace (whose
  "root" can't write the host's cgroupfs either).  A rootless cgroup manager
  skips the hierarchies it may not write to, as long as nothing asks for a
  limit there (cgroups/v1.py, v2.py).

Only os is imported: the CLI's global flags reach this on every call.
"""

from __future__ import annotations

import os

from ..errors import InvalidArgument

__all__ = ["default_root", "parse_rootless", "running_in_userns", "use_rootless_cgroups"]

_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def parse_rootless(value: str) -> bool | None:
    """``--rootless``: True, False, or None for auto (Go's strconv.ParseBool spellings)."""
    if value in ("", "auto"):
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidArgument(f'--rootless: strconv.ParseBool: parsing "{value}": invalid syntax '
                          "(want true, false or auto)")


def running_in_userns() -> bool:
    """Inside a user namespace other than the initial one: the initial namespace
    maps the whole 32-bit range onto itself (``0 0 4294967295``)."""
    try:
        with open("/proc/self/uid_map") as f:
            fields = f.read().split()
    except OSError:
        return False
    return fields != ["0", "0", "4294967295"]


def use_rootless_cgroups(value: str, systemd: bool = False) -> bool:
    """Whether the cgroup manager may skip hierarchies it cannot write to."""
    explicit = parse_rootless(value)
    if explicit is not None:
        return explicit
    if os.geteuid() != 0:
        return True
    if not running_in_userns():
        return False  # real root
    # Root in a user namespace.  With the systemd driver runc asks the bus whose
    # manager it talks to and assumes root when it can't tell; cgroupfs can't
    # know whether the path is writable, so it is rootless.
    return not systemd


def default_root(fallback: str) -> tuple[str, bool]:
    """The state root when --root is not given: ``$XDG_RUNTIME_DIR/runcgo`` for
    an unprivileged user (root in a user namespace too, unless $USER says
    root), else ``fallback``.  The second value says the XDG dir was chosen:
    it must then be made 0700 and sticky (the XDG spec keeps files in
    $XDG_RUNTIME_DIR from being cleaned up only when they are sticky)."""
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if not xdg:
        return fallback, False
    if os.geteuid() == 0:
        if not running_in_userns():
            return fallback, False
        user = os.environ.get("USER")
        if user == "root":
            return fallback, False
    return os.path.join(xdg, "runcgo"), True


def make_xdg_root(path: str) -> None:
    """mkdir -p ``path`` 0700, then chmod 01700 (as runc does with its XDG root)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o1700)
