"""The cgroup v1 driver, including hybrid hosts (v1 controllers + a cgroup2
``unified`` mount, like the development machines).

A container gets one directory per mounted hierarchy, named the same in each.
On hybrid hosts the cgroup2 side is joined too: systemd-style tools read it,
eBPF device filtering keys on it, and it is where hugetlb lives when v1 has
no hugetlb hierarchy.  Only directories we made are recorded for removal.
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
    read_procs,
    remove_children,
    rmdir_created,
    write_file,
)
from .paths import Hierarchy, hierarchies, hierarchy_dir, own_cgroups, sub_dir

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from ...spec import LinuxDevice, LinuxResources

__all__ = ["V1Manager", "new_v1"]


class V1Manager(CgroupManager):
    driver = "v1"

    def __init__(self, path: str, dirs: dict[str, str], controllers: dict[str, list[str]],
                 created: list[str] | None = None, rootless: bool = False,
                 skipped: dict[str, str] | None = None, may_skip: bool = False) -> None:
        self.path = path
        # hierarchy name (``memory``, ``cpu,cpuacct``, ``systemd``, ``unified``) -> our dir
        self.dirs = dirs
        # hierarchy name -> the controllers it carries (``name=systemd`` included)
        self.controllers = controllers
        self.created = created if created is not None else []
        # Rootless: device rules are best effort (see set).  Without a cgroupsPath
        # too (``may_skip``, runc's rule): a hierarchy we may not write to is
        # skipped -- the container stays in our own cgroup there -- unless a
        # limit needs it.  hierarchy -> why.
        self.rootless = rootless
        self.may_skip = may_skip
        self.skipped = skipped if skipped is not None else {}
        self.own_dirs: dict[str, str] = {}  # skipped hierarchy -> our own cgroup there

    # -- lookup --------------------------------------------------------------
    def dir_for(self, ctrl: str) -> str | None:
        """Our directory in the v1 hierarchy carrying ``ctrl`` (None if not mounted)."""
        for name, ctrls in self.controllers.items():
            if name != "unified" and ctrl in ctrls:
                return self.dirs.get(name)
        return None

    def unified_dir(self) -> str | None:
        return self.dirs.get("unified")

    def memory_dir(self) -> str | None:
        return self.dir_for("memory")

    def exists(self) -> bool:
        return any(os.path.isdir(d) for d in self.dirs.values())

    # -- lifecycle -----------------------------------------------------------
    def create(self) -> None:
        for name, d in list(self.dirs.items()):
            if self.rootless and self.may_skip:
                why = rootless_skip(d, self.created)
                if why:
                    self.skipped[name] = why
                    self.own_dirs[name] = os.path.dirname(d)  # the path is just the ID
                    del self.dirs[name]
                    continue
            made = mkdir_p(d, self.created)
            if "cpuset" in self.controllers.get(name, ()):
                from .v1_resources import cpuset_fill

                cpuset_fill(d)  # every level, made by us or by a concurrent create
            if name == "unified":
                enable_controllers(d, made)

    def apply(self, pid: int) -> None:
        for name, d in self.dirs.items():
            if not os.path.isdir(d):  # e.g. exec --cgroup with a sub-cgroup not made yet
                raise CgroupError(f"adding pid {pid} to cgroups: open "
                                  f"{os.path.join(d, 'cgroup.procs')}: no such file or directory")
            try:
                write_file(d, "cgroup.procs", pid)
            except CgroupError as e:
                raise CgroupError(f"join {name} cgroup {d}: {e}") from e

    def sub(self, paths: dict[str, str]) -> V1Manager:
        dirs = dict(self.dirs)
        if "" in paths:
            dirs = {name: sub_dir(d, paths[""]) for name, d in dirs.items()}
        else:
            for ctrl, rel in paths.items():
                name = self._hierarchy(ctrl)
                if name is None:
                    raise CgroupError(f"unknown controller {ctrl} (--cgroup {ctrl}:{rel})")
                dirs[name] = sub_dir(self.dirs[name], rel)
        return V1Manager(self.path, dirs, self.controllers)

    def _hierarchy(self, ctrl: str) -> str | None:
        """The hierarchy carrying ``ctrl`` (``name=systemd`` may be said ``systemd``)."""
        for name, ctrls in self.controllers.items():
            if name in self.dirs and (ctrl in ctrls or f"name={ctrl}" in ctrls):
                return name
        return None

    def self_join(self) -> tuple[str | None, list[str]] | None:
        return (self.dirs.get("unified"),
                [os.path.join(d, "tasks") for name, d in self.dirs.items() if name != "unified"])

    def set(self, resources: LinuxResources | None, *,
            devices: Sequence[LinuxDevice] | None = None) -> None:
        if resources is None:
            if devices is None:
                return
            from ...spec import LinuxResources

            resources = LinuxResources()
        from . import v1_resources  # parent only; lazily: not every command sets limits

        dir_for = self.dir_for
        if self.rootless:
            # runc: device rules are "not expected to work" rootless (writing them
            # needs CAP_SYS_ADMIN even in a delegated cgroup; the devices are bind
            # mounts of the host's, with its permissions): tried, never fatal.
            if self.dir_for("devices") is not None:
                try:
                    v1_resources.set_devices(self.dir_for, resources, devices)
                except CgroupError as exc:
                    log.debug("rootless: device rules not applied: %s", exc)
            devices = None
            resources = _without_devices(resources)
            dir_for = self._rootless_dir_for
        v1_resources.set_all(dir_for, resources, unified=self.unified_dir(), devices=devices)

    def _rootless_dir_for(self, ctrl: str) -> str | None:
        d = self.dir_for(ctrl)
        if d is None:
            for name, why in self.skipped.items():
                if ctrl in self.controllers.get(name, ()):
                    raise CgroupError(f"cannot set {ctrl} limit: rootless container could not "
                                      f"create its cgroup ({why}); drop the limit or "
                                      "delegate the cgroup to this user")
        return d

    def destroy(self) -> None:
        # Sub-cgroups the container made in a cgroup we made are its own; in
        # a cgroup that existed before us they may be someone else's.
        for d in self.dirs.values():
            if d in self.created:
                try:
                    os.rmdir(d)  # the usual case: no sub-cgroups, no process left
                except FileNotFoundError:
                    pass
                except OSError:
                    remove_children(d)
        rmdir_created(self.created)

    def leaf_dirs(self) -> list[str]:
        return list(self.dirs.values())

    # -- freezer -------------------------------------------------------------
    def freeze(self) -> None:
        self._freezer("FROZEN")

    def thaw(self) -> None:
        self._freezer("THAWED")

    def _freezer(self, value: str, timeout: float = 10.0) -> None:
        d = self.dir_for("freezer")
        if not d:
            why = next((w for n, w in self.skipped.items()
                        if "freezer" in self.controllers.get(n, ())), "")
            if why:  # runc's words, and the reason
                raise CgroupError("cannot toggle freezer: cgroups not configured for container "
                                  f"(rootless: {why})")
            raise CgroupError("pause/resume: the freezer cgroup controller is not available")
        # FREEZING can stall when a task is in an uninterruptible sleep; rewriting
        # the state nudges the kernel to retry (runc does the same).
        deadline = time.monotonic() + timeout
        delay = 0.0005
        while True:
            write_file(d, "freezer.state", value, "freezer")
            for _ in range(20):
                if self._read_freezer() == value:
                    return
                time.sleep(delay)
                delay = min(delay * 2, 0.02)
            if time.monotonic() > deadline:
                if value == "FROZEN":
                    write_file(d, "freezer.state", "THAWED", "freezer")
                raise CgroupError(f"freezer: timed out waiting for {value}")

    def _read_freezer(self) -> str:
        d = self.dir_for("freezer")
        if not d:
            return "THAWED"
        try:
            return read_file(d, "freezer.state")
        except OSError:
            return "THAWED"

    def freezer_state(self) -> str:
        return "frozen" if self._read_freezer() == "FROZEN" else "thawed"

    # -- queries -------------------------------------------------------------
    def pids(self) -> list[int]:
        for ctrl in ("pids", "memory", "freezer", "cpu", "devices"):
            d = self.dir_for(ctrl)
            if d and os.path.isdir(d):
                return read_procs(d)
        d = next((x for x in self.dirs.values() if os.path.isdir(x)), None)
        return read_procs(d) if d else []

    def stats(self) -> dict[str, Any]:
        from . import stats

        return stats.v1_stats(self.dir_for, self.unified_dir())

    def to_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"driver": "v1", "path": self.path, "dirs": self.dirs,
                               "controllers": self.controllers, "created": self.created}
        if self.rootless:
            out["rootless"] = True
            out["may_skip"] = self.may_skip
            out["skipped"] = self.skipped
        return out

    def mount_in_container(self, target: str, readonly: bool, flags: int,
                           cgroupns: bool) -> None:
        from . import mountfs  # preloaded by the init's setup child (preexec._preload)

        dirs = dict(self.dirs)
        for name in self.skipped:  # still in our own cgroup there: show that one
            dirs[name] = self.own_dirs.get(name, "")
        mountfs.mount_v1(target, {k: v for k, v in dirs.items() if v}, self.controllers,
                         readonly, flags)


def rootless_skip(d: str, created: list[str]) -> str:
    """Why a rootless container can't use cgroup dir ``d`` ("" if it can): mkdir
    refused, or a directory that exists but that we may not move a process into."""
    try:
        mkdir_p(d, created)
    except CgroupError as exc:
        if isinstance(exc.__cause__, OSError) and exc.__cause__.errno in _NO_PERMISSION:
            return str(exc)
        raise
    procs = os.path.join(d, "cgroup.procs")
    if os.path.exists(procs) and not os.access(procs, os.W_OK):
        return f"open {procs}: permission denied"
    return ""


_NO_PERMISSION = (errno.EPERM, errno.EACCES, errno.EROFS)


def _without_devices(resources: LinuxResources) -> LinuxResources:
    if not resources.devices:
        return resources
    from ..._struct import replace

    return replace(resources, devices=None)


def enable_controllers(d: str, created: Sequence[str]) -> None:
    """Enable every available cgroup2 controller in the ancestors of ``d`` that
    we created ourselves, so ``d`` gets their files.  Cgroups we did not make
    are left alone; whatever the host has not enabled stays unavailable, and
    setting it later fails with an error naming the resource."""
    for p in sorted((c for c in created if d.startswith(c + "/")), key=len):
        try:
            avail = read_file(p, "cgroup.controllers").split()
        except OSError:
            return
        if avail:
            try:
                write_file(p, "cgroup.subtree_control", " ".join("+" + c for c in avail))
            except CgroupError:
                for c in avail:
                    try:
                        write_file(p, "cgroup.subtree_control", "+" + c)
                    except CgroupError:
                        continue


def new_v1(container_id: str, cgroups_path: str, hs: list[Hierarchy] | None = None,
           rootless: bool = False, may_skip: bool = False) -> V1Manager:
    """A v1/hybrid manager for ``cgroups_path`` (absolute or relative to our own cgroup)."""
    del container_id
    hs = hierarchies() if hs is None else hs
    own = own_cgroups() if not cgroups_path.startswith("/") else {}
    dirs: dict[str, str] = {}
    ctrls: dict[str, list[str]] = {}
    for h in hs:
        name = "unified" if h.version == 2 else h.name
        dirs[name] = hierarchy_dir(h, cgroups_path, own)
        ctrls[name] = list(h.controllers)
    return V1Manager(cgroups_path, dirs, ctrls, rootless=rootless, may_skip=may_skip)


def from_state_v1(d: dict[str, Any]) -> V1Manager:
    dirs = dict(d.get("dirs") or {})
    ctrls = d.get("controllers")
    if ctrls is None:  # state written by the foundation's placeholder driver
        ctrls = {k: [k] for k in dirs}
    return V1Manager(d.get("path", ""), dirs, dict(ctrls), list(d.get("created") or []),
                     rootless=bool(d.get("rootless")), skipped=dict(d.get("skipped") or {}),
                     may_skip=bool(d.get("may_skip", d.get("rootless"))))
