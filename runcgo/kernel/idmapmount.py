"""Idmapped bind mounts (OCI 1.1+: ``mounts[].uidMappings/gidMappings``, ``idmap``/``ridmap``).

An idmapped mount shows a filesystem's owners through a user namespace's
mapping: with ``{"containerID": 0, "hostID": 100000, "size": 65536}`` a file
owned by uid N on disk is seen as host uid 100000+N -- which a container whose
own user namespace maps 0 to 100000 sees as N -- and a write by that container's
uid N lands on disk as N again.

The kernel's rules make the order: the mapping is a user namespace of its own
(made by forking a child that unshares one, writing its maps and keeping an
fd to /proc/CHILD/ns/user); the mount must be a detached copy
(``open_tree(OPEN_TREE_CLONE)``) when ``mount_setattr(MOUNT_ATTR_IDMAP)``
is applied, by a process privileged over the filesystem's own user namespace
(host root for a host filesystem); then ``move_mount`` attaches it where the
container wants it.  In a user-namespaced container the first two happen in
the bind-source opener, still host root (mountsources.py), and the init only
attaches; otherwise the init does all three.
"""

from __future__ import annotations

import os

from .._record import record
from . import syscalls as sc

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from ..spec import IDMapping, Mount

__all__ = ["IdmapRequest", "attach", "clone_idmapped", "request_for", "userns_fd"]


@record
class IdmapRequest:
    """What one idmapped mount needs: the maps (``containerID hostID size`` lines),
    whether the bind takes the mounts below it (rbind), whether the idmapping
    does (``ridmap``)."""

    uid_map: str
    gid_map: str
    recursive_bind: bool
    recursive_idmap: bool


def _lines(maps: list[IDMapping] | None) -> str:
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps or ())


def request_for(m: Mount, container_uids: list[IDMapping] | None,
                container_gids: list[IDMapping] | None) -> IdmapRequest | None:
    """The request for mount ``m``, or None if it is not idmapped.  ``idmap``/``ridmap``
    without mappings of its own take the container's user namespace mappings."""
    opts = m.options or ()
    flagged = "idmap" in opts or "ridmap" in opts
    if not (m.uid_mappings or m.gid_mappings or flagged):
        return None
    uids = m.uid_mappings or container_uids
    gids = m.gid_mappings or container_gids
    return IdmapRequest(uid_map=_lines(uids), gid_map=_lines(gids),
                        recursive_bind="rbind" in opts, recursive_idmap="ridmap" in opts)


def userns_fd(uid_map: str, gid_map: str) -> int:
    """An fd of a new user namespace with these maps (no process left in it).

    Needs the privilege to write arbitrary maps (host root): the caller is the
    opener or a root init, both single-threaded, so fork is safe."""
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the namespace's placeholder
        try:
            os.close(ready_r)
            os.close(hold_w)
            sc.unshare(sc.CLONE_NEWUSER)
            # Our pid as /proc knows it: in a new pid namespace fork's answer
            # would name another process in the host's /proc, still mounted here.
            os.write(ready_w, os.readlink("/proc/self").encode())
            os.read(hold_r, 1)  # until the parent has its fd
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(hold_r)
    try:
        proc_pid = os.read(ready_r, 32).decode()
        if not proc_pid.isdigit():
            raise OSError(1, "unshare(CLONE_NEWUSER) for an idmapped mount")
        for name, data in (("uid_map", uid_map), ("gid_map", gid_map)):
            path = f"/proc/{proc_pid}/{name}"
            try:
                with open(path, "w") as f:
                    f.write(data)
            except OSError as exc:
                raise OSError(exc.errno, f"write {path} ({data.strip()!r}) for an idmapped "
                              "mount") from None
        return os.open(f"/proc/{proc_pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(hold_w)
        os.waitpid(pid, 0)


def clone_idmapped(source: str, req: IdmapRequest, dest: str) -> int:
    """A detached, idmapped copy of the mount tree at ``source`` (an fd path works)."""
    ns = userns_fd(req.uid_map, req.gid_map)
    try:
        tree = sc.open_tree_clone(source, req.recursive_bind)
        try:
            sc.mount_setattr_idmap(tree, ns, req.recursive_idmap,
                                   f"{source} for {dest}")
        except BaseException:
            os.close(tree)
            raise
        return tree
    finally:
        os.close(ns)


def attach(tree_fd: int, target_fd: int, dest: str) -> None:
    """Put the detached mount on the (in-root) target."""
    sc.move_mount_fd(tree_fd, target_fd, dest)
