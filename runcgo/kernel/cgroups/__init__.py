"""cgroup drivers (v1, hybrid, v2, systemd) behind one interface.

INTERFACE CONTRACT (used by ops/ and kernel/preexec; keep it stable):

    new_manager(container_id, cgroups_path, *, systemd=False) -> CgroupManager
    from_state(d: dict) -> CgroupManager            # rebuild from state.json's "cgroup"
    freezer_state(d: dict) -> str                   # "frozen" | "thawed" (cheap)

    class CgroupManager:
        def create(self) -> None                    # make the directories (parent side)
        def apply(self, pid: int) -> None           # move pid in (before it runs user code)
        def set(self, resources: LinuxResources | None) -> None
        def destroy(self) -> None                   # remove only what we created
        def freeze(self) -> None; def thaw(self) -> None
        def pids(self) -> list[int]
        def stats(self) -> dict
        def to_state(self) -> dict                  # JSON-serialisable
        def mount_in_container(self, target: str, readonly: bool, flags: int,
                               cgroupns: bool) -> None   # the `cgroup` mount type

This first version is the minimal v1/hybrid driver the foundation needs; the
cgroups work replaces it with the full drivers.
"""

from __future__ import annotations

from typing import Any

from .base import CgroupManager, from_state, new_manager

__all__ = ["CgroupManager", "freezer_state", "from_state", "new_manager"]


def freezer_state(d: dict[str, Any]) -> str:
    return from_state(d).freezer_state()
