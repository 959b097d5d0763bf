"""Hide the host's procfs and sysfs before a ``--no-pivot`` chroot.

pivot_root detaches the old root; MS_MOVE + chroot does not: every host
mount stays in the container's mount namespace, only out of the chroot's
reach.  That matters to the kernel's check for mounting proc or sysfs in a
new user namespace (mount_too_revealing): the mount is allowed when *some*
instance of the filesystem in the mount namespace is fully visible.  The
container's own /proc has masked paths, so it doesn't count -- but the host's
bare /proc under the chroot would, and ``unshare -mrpf; mount -t proc`` in the
container would give it an unmasked /proc.  So every full proc/sysfs mount
outside the rootfs is detached, or covered with an empty tmpfs when it is
locked (a mount namespace owned by a user namespace).

Runs in the init, in its own (never the host's) mount namespace.  Before each
detach or cover, the parent mount is made a slave: an unmount or a mount
below a shared parent would propagate to the parent's peers, which can be
the host's.
"""

from __future__ import annotations

import errno
import os

from .._record import record
from . import syscalls as sc
from .mountinfo import unescape

_PSEUDO = ("proc", "sysfs")


@record
class MountEntry:
    mount_id: int
    parent_id: int
    root: str
    mountpoint: str
    fstype: str


def read_mountinfo(fd: int) -> list[MountEntry]:
    """Parse mountinfo from an open fd (re-read from the start on every call): once
    a /proc is covered the path is gone, but the open file still shows our mounts."""
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    entries = []
    for line in b"".join(chunks).splitlines():
        pre, _, post = line.partition(b" - ")
        fields = pre.split()
        if len(fields) < 5 or not post:
            continue
        entries.append(MountEntry(int(fields[0]), int(fields[1]),
                                  unescape(os.fsdecode(fields[3])),
                                  unescape(os.fsdecode(fields[4])), os.fsdecode(post.split()[0])))
    return entries


def is_host_pseudo_fs(e: MountEntry, rootfs: str) -> bool:
    """A full (not bind) proc or sysfs mount outside the container's rootfs."""
    inside = e.mountpoint == rootfs or e.mountpoint.startswith(rootfs.rstrip("/") + "/")
    return e.fstype in _PSEUDO and e.root == "/" and not inside


def hide_host_pseudo_fs(rootfs: str) -> None:
    """Detach (or cover) every full proc/sysfs mount that is not inside ``rootfs``."""
    fd = os.open("/proc/self/mountinfo", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _hide(fd, rootfs)
    finally:
        os.close(fd)


def _hide(mountinfo_fd: int, rootfs: str) -> None:
    entries = read_mountinfo(mountinfo_fd)
    by_id = {e.mount_id: e for e in entries}
    for e in entries:
        if not is_host_pseudo_fs(e, rootfs):
            continue
        parent = by_id.get(e.parent_id)
        if parent is None:
            continue  # only the namespace's root has no visible parent
        try:
            sc.mount(None, parent.mountpoint, None, sc.MS_SLAVE)
        except FileNotFoundError:
            continue  # below something detached already
        try:
            sc.umount2(e.mountpoint, sc.MNT_DETACH)
            continue
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                continue
            if exc.errno not in (errno.EINVAL, errno.EPERM):
                raise
        if any(m.mount_id == e.mount_id for m in read_mountinfo(mountinfo_fd)):  # locked: cover it
            sc.mount("tmpfs", e.mountpoint, "tmpfs",
                     sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "size=0k")
