"""The OCI ``cgroup`` mount type, built inside the container's mount namespace
before pivot_root.

``target`` is the host-visible path of the destination in the rootfs, often a
``/proc/self/fd/N`` magic link to a directory opened safely beforehand.  A
kernel surprise shapes this module: walking *through* a magic link lands on
the dentry the fd was opened on, not on whatever has since been mounted over
it.  So after mounting on ``target`` we reopen the new mount by looking up
its name in its parent (a normal lookup does cross mount points), check by
device number that we really got the new mount, and do every further step
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


def _open_mounted(target: str, old_dev: int) -> int:
    """O_PATH fd of the mount now on top of ``target`` (see module docstring)."""
    real = os.readlink(target) if target.startswith("/proc/self/fd/") else target
    parent = os.open(os.path.dirname(real) or "/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = os.open(os.path.basename(real), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
                     | os.O_NOFOLLOW, dir_fd=parent)
    finally:
        os.close(parent)
    if os.fstat(fd).st_dev == old_dev:
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
    old_dev = os.stat(target).st_dev
    sc.mount("tmpfs", target, "tmpfs", (flags & _KEEP), "mode=755")
    root = _open_mounted(target, old_dev)
    try:
        # An O_PATH fd cannot be used for mkdirat; open the tmpfs root for real.
        rootdir = os.open(_fdpath(root), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for name, src in sorted(dirs.items()):
                _bind_one(rootdir, name, src, readonly, flags)
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


def _bind_one(rootdir: int, name: str, src: str, readonly: bool, flags: int) -> None:
    os.mkdir(name, 0o755, dir_fd=rootdir)
    sub = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW,
                  dir_fd=rootdir)
    try:
        old_dev = os.fstat(sub).st_dev
        sc.mount(src, _fdpath(sub), None, sc.MS_BIND | sc.MS_REC)
    finally:
        os.close(sub)
    if not readonly and not (flags & _KEEP):
        return
    mnt = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW,
                  dir_fd=rootdir)
    try:
        if os.fstat(mnt).st_dev == old_dev:
            raise CgroupError(f"cgroup mount: bind of {src} did not appear")
        extra = sc.MS_RDONLY if readonly else 0
        sc.mount(None, _fdpath(mnt), None, sc.MS_REMOUNT | sc.MS_BIND | extra | (flags & _KEEP))
    finally:
        os.close(mnt)


def mount_v2(target: str, cgroup_dir: str, readonly: bool, flags: int, cgroupns: bool) -> None:
    """cgroup2 at ``target``: a fresh mount inside a cgroup namespace (its root is
    the container's cgroup), else a bind of the container's cgroup directory."""
    old_dev = os.stat(target).st_dev
    if cgroupns:
        sc.mount("cgroup2", target, "cgroup2", (flags & _KEEP) | (sc.MS_RDONLY if readonly else 0))
        return
    sc.mount(cgroup_dir, target, None, sc.MS_BIND | sc.MS_REC)
    if readonly or (flags & _KEEP):
        fd = _open_mounted(target, old_dev)
        try:
            extra = sc.MS_RDONLY if readonly else 0
            sc.mount(None, _fdpath(fd), None, sc.MS_REMOUNT | sc.MS_BIND | extra | (flags & _KEEP))
        finally:
            os.close(fd)
