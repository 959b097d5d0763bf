"""The OCI ``cgroup`` mount type, built inside the container's mount namespace
before pivot_root.

``target`` is the host-visible path of the destination in the rootfs, often a
``/proc/self/fd/N`` magic link to a directory opened safely beforehand.  A
kernel surprise shapes this module: walking *through* a magic link lands on
the dentry the fd was opened on, not on whatever has since been mounted over
it.  So after mounting on ``target`` we reopen the new mount by looking up
its name in its parent (a normal lookup does cross mount points), check by
mount ID that we really got the new mount (not by device number: a bind of a
cgroup2 directory over a cgroup2 mount -- a rootless container's rbind of the
host's /sys -- has the same one), and do every further step
through fds below that.  Nothing is ever mounted on a path outside the new
tmpfs / the target itself.
"""

from __future__ import annotations

import os

from ..._lite import suppress
from .. import syscalls as sc
from .base import CgroupError

_KEEP = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC


def _fdpath(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def _mount_id(fd: int) -> int:
    """The ID of the mount ``fd`` is on (/proc/self/fdinfo's ``mnt_id``)."""
    info = os.open(f"/proc/self/fdinfo/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(info, 4096)  # an O_PATH fd's fdinfo is a few short lines
    finally:
        os.close(info)
    for line in data.split(b"\n"):
        if line.startswith(b"mnt_id:"):
            return int(line.split()[1])
    raise CgroupError(f"/proc/self/fdinfo/{fd} has no mnt_id")


def _mount_id_of(target: str) -> int:
    fd = os.open(target, os.O_PATH | os.O_CLOEXEC)
    try:
        return _mount_id(fd)
    finally:
        os.close(fd)


def _open_mounted(target: str, old_mnt: int) -> int:
    """O_PATH fd of the mount now on top of ``target`` (see module docstring)."""
    real = os.readlink(target) if target.startswith("/proc/self/fd/") else target
    parent = os.open(os.path.dirname(real) or "/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = os.open(os.path.basename(real), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
                     | os.O_NOFOLLOW, dir_fd=parent)
    finally:
        os.close(parent)
    if _mount_id(fd) == old_mnt:
        os.close(fd)
        raise CgroupError(f"cgroup mount on {real}: cannot find the new mount (path changed "
                          "under us?)")
    return fd


def _remount_ro(fd: int, flags: int, bind: bool) -> None:
    extra = sc.MS_BIND if bind else 0
    sc.mount(None, _fdpath(fd), None, sc.MS_REMOUNT | extra | sc.MS_RDONLY | (flags & _KEEP))


def mount_v1(target: str, dirs: dict[str, str], controllers: dict[str, list[str]],
             readonly: bool, flags: int) -> None:
    """tmpfs at ``target`` holding a bind mount of each of our hierarchies' dirs."""
    old_mnt = _mount_id_of(target)
    sc.mount("tmpfs", target, "tmpfs", (flags & _KEEP), "mode=755")
    root = _open_mounted(target, old_mnt)
    try:
        # An O_PATH fd cannot be used for mkdirat; open the tmpfs root for real.
        rootdir = os.open(_fdpath(root), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        # The directories made below are on this tmpfs until something is bound there.
        tmpfs_mnt = _mount_id(root)
        try:
            for name, src in sorted(dirs.items()):
                _bind_one(rootdir, name, src, readonly, flags, tmpfs_mnt)
                # Co-mounted hierarchies (``cpu,cpuacct``) get a symlink per controller.
                for ctrl in controllers.get(name, ()):
                    link = ctrl.removeprefix("name=")
                    if link != name and "," in name:
                        with suppress(FileExistsError):
                            os.symlink(name, link, dir_fd=rootdir)
        finally:
            os.close(rootdir)
        if readonly:
            _remount_ro(root, flags, bind=False)
    finally:
        os.close(root)


def _bind_one(rootdir: int, name: str, src: str, readonly: bool, flags: int,
              old_mnt: int) -> None:
    """Bind ``src`` on a new directory ``name`` of the tmpfs (mount ID ``old_mnt``)."""
    os.mkdir(name, 0o755, dir_fd=rootdir)
    sub = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW,
                  dir_fd=rootdir)
    try:
        sc.mount(src, _fdpath(sub), None, sc.MS_BIND | sc.MS_REC)
    finally:
        os.close(sub)
    if not readonly and not (flags & _KEEP):
        return
    mnt = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW,
                  dir_fd=rootdir)
    try:
        if _mount_id(mnt) == old_mnt:
            raise CgroupError(f"cgroup mount: bind of {src} did not appear")
        extra = sc.MS_RDONLY if readonly else 0
        sc.mount(None, _fdpath(mnt), None, sc.MS_REMOUNT | sc.MS_BIND | extra | (flags & _KEEP))
    finally:
        os.close(mnt)


def mount_v2(target: str, cgroup_dir: str, readonly: bool, flags: int, cgroupns: bool) -> None:
    """cgroup2 at ``target``: a fresh mount inside a cgroup namespace (its root is
    the container's cgroup), else a bind of the container's cgroup directory."""
    old_mnt = _mount_id_of(target)
    if cgroupns:
        sc.mount("cgroup2", target, "cgroup2", (flags & _KEEP) | (sc.MS_RDONLY if readonly else 0))
        return
    sc.mount(cgroup_dir, target, None, sc.MS_BIND | sc.MS_REC)
    if readonly or (flags & _KEEP):
        fd = _open_mounted(target, old_mnt)
        try:
            extra = sc.MS_RDONLY if readonly else 0
            sc.mount(None, _fdpath(fd), None, sc.MS_REMOUNT | sc.MS_BIND | extra | (flags & _KEEP))
        finally:
            os.close(fd)
