"""Sysctls: is a network namespace the host's, and writing one inside the container.

The *rule* (which keys a container may set) is in spec.check_sysctls; this module
answers the two questions only the kernel can: whether a ``network`` namespace path
names the namespace we (the host side) are in, and how to write
``/proc/sys/<key>`` without being redirected.  In the container, ``/proc`` is
whatever the config mounted there, so the write goes through an fd of /proc/sys
that must be procfs, and the key is resolved beneath it with no symlinks and no
mount crossings: a symlink planted at ``/proc/sys/net/x`` must not turn a
namespaced sysctl into a write to a host file.
"""

from __future__ import annotations

import os

from . import syscalls as sc

PROC_SUPER_MAGIC = 0x9FA0


def is_host_netns(path: str) -> bool:
    """Does ``path`` name the network namespace this process is in?"""
    ours = os.stat("/proc/self/ns/net")
    theirs = os.stat(path)
    return (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino)


def write(key: str, value: str) -> None:
    """Write ``value`` to the sysctl ``key`` (dotted) under this mount namespace's
    /proc/sys.  Raises OSError naming the sysctl."""
    what = f"write sysctl {key}={value}"
    try:
        base = os.open("/proc/sys", os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise OSError(exc.errno, f"{what}: open /proc/sys") from None
    try:
        if sc.fstatfs_type(base) != PROC_SUPER_MAGIC:
            raise OSError(1, f"{what}: /proc/sys is not on procfs")
        try:
            fd = sc.openat2(base, key.replace(".", "/"), os.O_WRONLY | os.O_TRUNC,
                            sc.RESOLVE_BENEATH | sc.RESOLVE_NO_SYMLINKS | sc.RESOLVE_NO_XDEV
                            | sc.RESOLVE_NO_MAGICLINKS)
        except OSError as exc:
            raise OSError(exc.errno, what) from None
        try:
            os.write(fd, value.encode())
        except OSError as exc:
            raise OSError(exc.errno, what) from None
        finally:
            os.close(fd)
    finally:
        os.close(base)
