"""The rootfs criu restores into: a recursive bind of the bundle's rootfs.

criu's ``--root`` must be a mount point it can pivot into; runc binds the rootfs
under its state directory for the time of the restore.  Afterwards the restored
mount namespace holds its own copy, so ours is detached again at once.
"""

from __future__ import annotations

import os

from ..._lite import suppress
from .. import syscalls as sc


def bind(rootfs: str, target: str) -> str:
    os.mkdir(target, 0o700)
    try:
        sc.mount(rootfs, target, None, sc.MS_BIND | sc.MS_REC)
        # Nothing criu mounts under it may propagate back to the host's mounts.
        sc.mount(None, target, None, sc.MS_REC | sc.MS_PRIVATE)
    except BaseException:
        with suppress(OSError):
            sc.umount2(target, sc.MNT_DETACH)
        os.rmdir(target)
        raise
    return target


def unbind(target: str) -> None:
    with suppress(OSError):
        sc.umount2(target, sc.MNT_DETACH)
    with suppress(OSError):
        os.rmdir(target)
