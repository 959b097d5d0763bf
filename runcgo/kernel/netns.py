"""Keeping a container's network namespace alive on a file (``ip netns``'s trick).

CNI plugins are given a path to the namespace (``CNI_NETNS``).  The container's
own ``/proc/<init>/ns/net`` would do for ADD, but it disappears with the init,
and a DEL after the container has exited must still find the namespace: the
bridge plugin reads the container's addresses there to remove their
masquerade rules, and deletes the veth from inside it.  So the namespace is
bind-mounted onto a file in the container's state directory from ADD until
after DEL, and the file's path is what the plugins see.
"""

from __future__ import annotations

import errno
import os

from .._lite import suppress
from . import syscalls as sc


def pin(pid: int, path: str) -> None:
    """Bind-mount the network namespace of ``pid`` onto ``path`` (created empty)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o400)
    os.close(fd)
    try:
        sc.mount(f"/proc/{pid}/ns/net", path, None, sc.MS_BIND)
    except OSError:
        os.unlink(path)
        raise


def unpin(path: str) -> None:
    """Undo :func:`pin`: detach the mount (if any) and remove the file (if any)."""
    try:
        sc.umount2(path, sc.MNT_DETACH)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOENT):  # not mounted / no file
            raise
    with suppress(FileNotFoundError):
        os.unlink(path)


def is_pinned(path: str) -> bool:
    """Whether ``path`` is a namespace file (nsfs), not the empty file under it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return sc.fstatfs_type(fd) == NSFS_MAGIC
    except OSError:
        return False
    finally:
        os.close(fd)


NSFS_MAGIC = 0x6E736673
