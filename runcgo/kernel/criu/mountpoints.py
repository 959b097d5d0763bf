"""The container's mount points, made again in the rootfs before criu restores.

criu mounts what it restored onto mount points that must exist; a bind mount's
mount point inside *another* bind mount's source (``/test`` and
``/test/for/nested``) lives in that source directory, which may have changed
since the dump.  So, as at create and as runc does before a restore, every
mount point not on a tmpfs (criu restores tmpfs contents itself) is created in
the rootfs, and bind sources are bound there for the time of the restore, so
nested mount points are created inside them.  Paths resolve inside the rootfs
(kernel/paths.py): a symlink can't lead us out of it.  The temporary binds are
undone afterwards, failed or not.
"""

from __future__ import annotations

import os

from ..._lite import suppress
from .. import paths
from .. import syscalls as sc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

# (destination, host source or "", "bind" | "tmpfs" | "cgroup" | "other")
Mount = tuple[str, str, str]


def _on_tmpfs(dest: str, tmpfs: list[str]) -> bool:
    return any(dest.startswith(t.rstrip("/") + "/") for t in tmpfs)


class Prepared:
    """``with Prepared(rootfs, mounts): criu restore`` -- binds undone on exit."""

    def __init__(self, rootfs: str, mounts: Sequence[Mount]) -> None:
        self.rootfs, self.mounts = rootfs, mounts
        self.bound: list[str] = []

    def __enter__(self) -> Prepared:
        rootfd = os.open(self.rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self._make(rootfd)
        except BaseException:
            os.close(rootfd)
            self.undo()
            raise
        os.close(rootfd)
        return self

    def __exit__(self, *exc: object) -> None:
        self.undo()

    def _make(self, rootfd: int) -> None:
        tmpfs = [d for d, _, kind in self.mounts if kind == "tmpfs"]
        for dest, source, kind in self.mounts:
            if kind == "cgroup" or _on_tmpfs(dest, tmpfs):
                continue
            if kind != "bind":
                os.close(paths.mkdir_all(rootfd, dest))
                continue
            fd = paths.prepare_target(rootfd, dest, os.path.isdir(source))
            try:
                sc.mount(source, paths.fd_path(fd), None, sc.MS_BIND | sc.MS_REC)
            finally:
                os.close(fd)
            self.bound.append(os.path.join(self.rootfs, paths.resolve(rootfd, dest).lstrip("/")))

    def undo(self) -> None:
        while self.bound:
            with suppress(OSError):
                sc.umount2(self.bound.pop(), sc.MNT_DETACH)

