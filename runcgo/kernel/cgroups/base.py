"""Minimal cgroup v1/hybrid driver: directories, membership, freezer, removal.

Placeholder for the full drivers of the cgroups work; it honours no resource
limits yet (``set`` only accepts an absent/empty resources object or ones it
can ignore).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from ...spec import LinuxResources

CGROUP_ROOT = "/sys/fs/cgroup"


def _v1_hierarchies() -> dict[str, str]:
    """controller name -> mount point, for v1 hierarchies (and ``unified``)."""
    found: dict[str, str] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            mnt = fields[4]
            fstype, _src, opts = (right.split() + ["", ""])[:3]
            if not mnt.startswith(CGROUP_ROOT + "/"):
                continue
            if fstype == "cgroup":
                for opt in opts.split(","):
                    if opt in ("rw", "ro") or opt.startswith("release_agent") or "=" in opt and not opt.startswith("name="):
                        continue
                    if opt in ("nosuid", "nodev", "noexec", "relatime", "clone_children", "noprefix", "xattr", "cpuset_v2_mode"):
                        continue
                    found[opt] = mnt
            elif fstype == "cgroup2":
                found["unified"] = mnt
    return found


class CgroupManager:
    def __init__(self, path: str, dirs: dict[str, str], created: list[str] | None = None) -> None:
        self.path = path
        self.dirs = dirs
        self.created = created or []

    def create(self) -> None:
        for d in self.dirs.values():
            # Record every level we make so destroy() removes exactly those.
            parts = []
            cur = d
            while not os.path.isdir(cur):
                parts.append(cur)
                cur = os.path.dirname(cur)
            for p in reversed(parts):
                os.mkdir(p)
                self.created.append(p)
                if os.path.exists(os.path.join(p, "cpuset.cpus")):
                    # A new v1 cpuset is empty and refuses tasks until it inherits.
                    for f in ("cpuset.cpus", "cpuset.mems"):
                        with open(os.path.join(os.path.dirname(p), f)) as src:
                            value = src.read().strip()
                        with open(os.path.join(p, f), "w") as dst:
                            dst.write(value)

    def apply(self, pid: int) -> None:
        for d in self.dirs.values():
            path = os.path.join(d, "cgroup.procs")
            try:
                with open(path, "w") as f:
                    f.write(str(pid))
            except OSError as exc:
                raise OSError(exc.errno, f"add pid {pid} to {path}") from None

    def set(self, resources: LinuxResources | None) -> None:
        del resources  # the full drivers apply limits

    def pids(self) -> list[int]:
        d = self.dirs.get("pids") or self.dirs.get("memory") or next(iter(self.dirs.values()), "")
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except FileNotFoundError:
            return []

    def freeze(self) -> None:
        self._freezer("FROZEN")

    def thaw(self) -> None:
        self._freezer("THAWED")

    def _freezer(self, value: str) -> None:
        d = self.dirs.get("freezer")
        if not d:
            raise OSError(0, "no freezer cgroup")
        with open(os.path.join(d, "freezer.state"), "w") as f:
            f.write(value)
        for _ in range(1000):
            if self._read_freezer() == value:
                return
            time.sleep(0.001)

    def _read_freezer(self) -> str:
        d = self.dirs.get("freezer")
        if not d:
            return "THAWED"
        try:
            with open(os.path.join(d, "freezer.state")) as f:
                return f.read().strip()
        except FileNotFoundError:
            return "THAWED"

    def freezer_state(self) -> str:
        return "frozen" if self._read_freezer() == "FROZEN" else "thawed"

    def stats(self) -> dict[str, Any]:
        return {}

    def destroy(self) -> None:
        for p in sorted(self.created, key=len, reverse=True):
            for _ in range(50):
                try:
                    os.rmdir(p)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)

    def to_state(self) -> dict[str, Any]:
        return {"driver": "v1", "path": self.path, "dirs": self.dirs, "created": self.created}

    def mount_in_container(self, target: str, readonly: bool, flags: int, cgroupns: bool) -> None:
        from .. import syscalls as sc

        sc.mount("tmpfs", target, "tmpfs", flags & ~sc.MS_RDONLY, "mode=755")
        for ctrl, d in self.dirs.items():
            name = ctrl.removeprefix("name=")
            sub = os.path.join(target, name)
            os.mkdir(sub, 0o755)
            sc.mount(d, sub, None, sc.MS_BIND | sc.MS_REC)
            if readonly:
                sc.mount(None, sub, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | flags)
        if readonly:
            sc.mount(None, target, None, sc.MS_REMOUNT | sc.MS_RDONLY | flags, "mode=755")


def new_manager(container_id: str, cgroups_path: str | None, *, systemd: bool = False) -> CgroupManager:
    del systemd
    path = cgroups_path or f"/{container_id}"
    if not path.startswith("/"):
        path = "/" + path
    dirs = {ctrl: os.path.join(mnt, path.lstrip("/")) for ctrl, mnt in _v1_hierarchies().items()}
    return CgroupManager(path, dirs)


def from_state(d: dict[str, Any]) -> CgroupManager:
    return CgroupManager(d["path"], d["dirs"], d.get("created"))


