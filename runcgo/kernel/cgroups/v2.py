"""The cgroup v2 (unified) driver.

Two v2 rules shape it.  Controllers are only usable in a cgroup whose parent
lists them in ``cgroup.subtree_control``, so ``create`` enables them at every
level from the mount root down to the container's parent.  And "no internal
processes": a non-root cgroup that has member processes cannot enable
controllers for its children (EBUSY).  If the parent we must enable them in
already holds processes, we say so clearly instead of failing later with a
missing file.
"""

from __future__ import annotations

import errno
import os
import time

from .base import (
    CgroupError,
    CgroupManager,
    log,
    mkdir_p,
    read_file,
    read_keyed,
    read_procs,
    remove_children,
    rmdir_created,
    write_file,
)

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from ...spec import LinuxDevice, LinuxResources

__all__ = ["V2Manager"]


def enable_down(root: str, target: str) -> None:
    """Enable every available controller in ``subtree_control`` from ``root`` down
    to ``target``'s parent (the root itself included)."""
    rel = os.path.relpath(target, root)
    if rel in (".", ""):
        return
    cur = root
    for part in rel.split("/"):
        _enable_all(cur)
        cur = os.path.join(cur, part)


def _enable_all(path: str) -> None:
    try:
        avail = read_file(path, "cgroup.controllers").split()
        enabled = set(read_file(path, "cgroup.subtree_control").split())
    except OSError:
        return
    missing = [c for c in avail if c not in enabled]
    if not missing:
        return
    try:
        write_file(path, "cgroup.subtree_control", " ".join("+" + c for c in missing))
        return
    except CgroupError as e:
        cause = e.__cause__
        if isinstance(cause, OSError) and cause.errno == errno.EBUSY:
            log.warning("cannot enable controllers in %s: it has processes of its own "
                        "(cgroup v2 allows no internal processes)", path)
            return
    for c in missing:  # some controllers may be refused (e.g. threaded mode); keep the rest
        try:
            write_file(path, "cgroup.subtree_control", "+" + c)
        except CgroupError:
            continue


class V2Manager(CgroupManager):
    driver = "v2"

    def __init__(self, path: str, dirpath: str, mountpoint: str,
                 created: list[str] | None = None, rootless: bool = False,
                 skipped: str = "", may_skip: bool = False) -> None:
        self.path = path
        self.dir = dirpath
        self.mountpoint = mountpoint
        self.created = created if created is not None else []
        # Rootless (see new_manager): device rules are skipped.  Without a
        # cgroupsPath (``may_skip``) and without a delegated subtree (runc's rule,
        # see v1.py): no cgroup of our own; ``skipped`` says why, and any limit is
        # an error.
        self.rootless = rootless
        self.may_skip = may_skip
        self.skipped = skipped

    def memory_dir(self) -> str | None:
        return self.dir

    def exists(self) -> bool:
        return os.path.isdir(self.dir)

    def create(self) -> None:
        if self.rootless and self.may_skip:
            from .v1 import rootless_skip

            self.skipped = rootless_skip(self.dir, self.created)
            if self.skipped:
                return
        mkdir_p(self.dir, self.created)
        enable_down(self.mountpoint, self.dir)

    def self_join(self) -> tuple[str | None, list[str]] | None:
        return (None, []) if self.skipped else (self.dir, [])

    def sub(self, paths: dict[str, str]) -> V2Manager:
        from .paths import sub_dir

        # One hierarchy: only the path-for-all form makes sense.
        for ctrl in paths:
            if ctrl:
                raise CgroupError(f"unknown controller {ctrl} (cgroup v2 takes --cgroup PATH)")
        return V2Manager(self.path, sub_dir(self.dir, paths[""]), self.mountpoint)

    def apply(self, pid: int) -> None:
        if self.skipped:
            return
        if not os.path.isdir(self.dir):  # e.g. exec --cgroup with a sub-cgroup not made yet
            raise CgroupError(f"adding pid {pid} to cgroups: open "
                              f"{os.path.join(self.dir, 'cgroup.procs')}: no such file or directory")
        try:
            write_file(self.dir, "cgroup.procs", pid)
        except CgroupError as e:
            cause = e.__cause__
            if isinstance(cause, OSError) and cause.errno == errno.EBUSY:
                raise CgroupError(f"join cgroup {self.dir}: it has controllers enabled for "
                                  "child cgroups, so it cannot hold processes (cgroup v2 "
                                  "no-internal-processes rule)") from e
            raise

    def set(self, resources: LinuxResources | None, *,
            devices: Sequence[LinuxDevice] | None = None) -> None:
        if resources is None:
            if devices is None:
                return
            from ...spec import LinuxResources

            resources = LinuxResources()
        from . import v2_resources  # parent only; lazily: not every command sets limits

        if self.rootless:
            # runc: device filtering (eBPF, CAP_SYS_ADMIN) is skipped rootless.
            from ..._struct import replace

            devices = None
            resources = replace(resources, devices=None)
            if self.skipped:
                from ..._struct import to_builtins

                asked = sorted(k for k, v in (to_builtins(resources) or {}).items() if v)
                if asked:
                    raise CgroupError(f"cannot set {', '.join(asked)} limits: rootless container "
                                      f"could not create its cgroup ({self.skipped}); drop the "
                                      "limits or delegate a cgroup to this user")
                return
        v2_resources.set_all(self.dir, resources, devices=devices)

    def destroy(self) -> None:
        if self.dir in self.created:  # its own sub-cgroups go with it (see v1)
            try:
                os.rmdir(self.dir)  # the usual case: nothing below it, no process left
            except FileNotFoundError:
                pass
            except OSError:
                remove_children(self.dir)
        rmdir_created(self.created)

    def leaf_dirs(self) -> list[str]:
        return [self.dir]

    def freeze(self) -> None:
        self._freeze(True)

    def thaw(self) -> None:
        self._freeze(False)

    def _freeze(self, frozen: bool, timeout: float = 10.0) -> None:
        if self.skipped:
            raise CgroupError(f"pause/resume: the container has no cgroup of its own "
                              f"(rootless: {self.skipped})")
        write_file(self.dir, "cgroup.freeze", "1" if frozen else "0", "freezer")
        # The write only requests the state; cgroup.events says when it is reached.
        deadline = time.monotonic() + timeout
        delay = 0.0005
        want = 1 if frozen else 0
        while read_keyed(self.dir, "cgroup.events").get("frozen", want) != want:
            if time.monotonic() > deadline:
                if frozen:
                    write_file(self.dir, "cgroup.freeze", "0", "freezer")
                raise CgroupError(f"freezer: timed out waiting for {self.dir} to "
                                  f"{'freeze' if frozen else 'thaw'}")
            time.sleep(delay)
            delay = min(delay * 2, 0.02)

    def freezer_state(self) -> str:
        try:
            return "frozen" if read_file(self.dir, "cgroup.freeze") == "1" else "thawed"
        except OSError:
            return "thawed"

    def pids(self) -> list[int]:
        return read_procs(self.dir) if os.path.isdir(self.dir) else []

    def stats(self) -> dict[str, Any]:
        from . import stats

        return stats.v2_stats(self.dir)

    def to_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"driver": "v2", "path": self.path, "dir": self.dir,
                               "mountpoint": self.mountpoint, "created": self.created}
        if self.rootless:
            out["rootless"] = True
            out["may_skip"] = self.may_skip
            out["skipped"] = self.skipped
        return out

    def mount_in_container(self, target: str, readonly: bool, flags: int,
                           cgroupns: bool) -> None:
        from . import mountfs  # preloaded by the init's setup child (preexec._preload)

        # Skipped rootless: the init is still in our own cgroup; show that one.
        mountfs.mount_v2(target, self.own_dir if self.skipped else self.dir, readonly, flags,
                         cgroupns)

    @property
    def own_dir(self) -> str:
        from .paths import own_cgroups

        return os.path.join(self.mountpoint, own_cgroups().get("", "/").lstrip("/")).rstrip("/")

    def kill_all(self, sig: int) -> None:
        """SIGKILL through cgroup.kill (atomic, kernel 5.14+) when available."""
        from ..signals import SIGKILL

        if sig == SIGKILL and os.path.exists(os.path.join(self.dir, "cgroup.kill")):
            write_file(self.dir, "cgroup.kill", "1")
            return
        super().kill_all(sig)


def from_state_v2(d: dict[str, Any]) -> V2Manager:
    return V2Manager(d.get("path", ""), d["dir"], d.get("mountpoint", "/sys/fs/cgroup"),
                     list(d.get("created") or []), rootless=bool(d.get("rootless")),
                     skipped=str(d.get("skipped") or ""),
                     may_skip=bool(d.get("may_skip", d.get("rootless"))))


def new_v2(cgroups_path: str, hs: list[Any] | None = None, rootless: bool = False,
           may_skip: bool = False) -> V2Manager:
    """A v2 manager for ``cgroups_path`` on the unified hierarchy."""
    from .paths import hierarchies, hierarchy_dir

    hs = hierarchies() if hs is None else hs
    h = next((x for x in hs if x.version == 2), None)
    if h is None:
        raise CgroupError("no cgroup2 hierarchy mounted")
    return V2Manager(cgroups_path, hierarchy_dir(h, cgroups_path, parent_of_own=True),
                     h.mountpoint, rootless=rootless, may_skip=may_skip)
