"""cgroup drivers (v1, hybrid, v2, systemd) behind one interface.

INTERFACE CONTRACT (used by ops/ and kernel/preexec; keep it stable):

    new_manager(container_id, cgroups_path, *, systemd=False, rootless=False) -> CgroupManager
    from_state(d: dict) -> CgroupManager            # rebuild from state.json's "cgroup"
    freezer_state(d: dict) -> str                   # "frozen" | "thawed" (cheap)
    detect() -> str                                 # "v1" | "hybrid" | "v2"

    class CgroupManager:
        driver: str; path: str
        def create(self) -> None                    # make the directories (parent side)
        def apply(self, pid: int) -> None           # move pid in (before it runs user code)
        def set(self, resources: LinuxResources | None, *,
                devices: Sequence[LinuxDevice] | None = None) -> None
            # zero/absent fields are left unchanged.  ``devices`` (create only:
            # pass spec.linux.devices, or [] ) adds runc's always-allowed device
            # rules and the container's own device nodes to resources.devices;
            # leave it None on ``update``.
        def self_join(self) -> tuple[str | None, list[str]] | None
            # how a child enters by itself (cgroup2 dir to clone into, v1 tasks
            # files); None: only apply() will do.  See selfjoin.py.
        def destroy(self) -> None                   # remove only what we created
        def freeze(self) -> None; def thaw(self) -> None
        def freezer_state(self) -> str              # "frozen" | "thawed"
        def kill_all(self, sig: int) -> None        # freeze, signal every pid, thaw
        def pids(self) -> list[int]                 # recursive, sorted
        def stats(self) -> dict                     # runc's events --stats "data" shape
        def exists(self) -> bool
        def memory_dir(self) -> str | None          # for OOM notifications (oom.py)
        def to_state(self) -> dict                  # JSON-serialisable
        def mount_in_container(self, target: str, readonly: bool, flags: int,
                               cgroupns: bool) -> None   # the `cgroup` mount type

``cgroups_path`` follows runc: absolute = below each hierarchy's root;
relative = below the runtime's own cgroup (v1) or its parent (v2); None =
relative ``<container_id>``.  With ``systemd=True`` it is ``slice:prefix:name``
(default ``system.slice:runc:<id>``), and the scope is made over D-Bus.
Errors are :class:`CgroupError` (a RuncgoError) with a message naming the
resource or path.
"""

from __future__ import annotations

from .base import CgroupError, CgroupManager
from .paths import hierarchies, mode

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

__all__ = ["CgroupError", "CgroupManager", "assume_created", "detect", "freezer_state",
           "from_state", "new_manager"]


def detect() -> str:
    """The host's cgroup layout: ``v1``, ``hybrid`` or ``v2``."""
    return mode()


def new_manager(container_id: str, cgroups_path: str | None, *,
                systemd: bool = False, rootless: bool = False) -> CgroupManager:
    """The manager for a new container, with the driver the host calls for.

    ``rootless`` (kernel/rootless.py), as runc does: device rules are best effort
    (writing them, or loading the v2 eBPF filter, needs privileges a delegated
    cgroup does not give), and -- only when no cgroupsPath was given -- cgroups
    we may not write are skipped while no limit needs them."""
    may_skip = rootless and not cgroups_path
    if systemd:
        from .systemd import new_systemd

        manager: CgroupManager = new_systemd(container_id, cgroups_path)
        return manager
    hs = hierarchies()
    path = cgroups_path or container_id
    if mode(hs) == "v2":
        from .v2 import new_v2

        return new_v2(path, hs, rootless=rootless, may_skip=may_skip)
    from .v1 import new_v1

    return new_v1(container_id, path, hs, rootless=rootless, may_skip=may_skip)


def from_state(d: dict[str, Any]) -> CgroupManager:
    """Rebuild the manager recorded by ``to_state`` (driver modules load lazily).

    A record of the wrong shape (a damaged or hand-edited state.json) is a
    CgroupError naming it, not a TypeError deep in a driver."""
    try:
        if not isinstance(d, dict):
            raise TypeError(f"a {type(d).__name__}, not an object")
        manager = _from_state(d)
        rec = manager.to_state()
        for value in (*(rec.get("dirs") or {}).values(), *(rec.get("created") or ()),
                      rec.get("dir", ""), rec.get("path", "")):
            if not isinstance(value, str):
                raise TypeError(f"{value!r} is not a path")
        return manager
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise CgroupError(f"the container's recorded cgroup is damaged: {exc}") from None


def _from_state(d: dict[str, Any]) -> CgroupManager:
    driver = d.get("driver", "v1")
    if driver == "v2":
        from .v2 import from_state_v2

        return from_state_v2(d)
    if driver == "systemd":
        from .systemd import from_state_systemd

        systemd_manager: CgroupManager = from_state_systemd(d)
        return systemd_manager
    from .v1 import from_state_v1

    return from_state_v1(d)


def freezer_state(d: dict[str, Any]) -> str:
    """"frozen" or "thawed", straight from the recorded state (used by ``state``)."""
    return from_state(d).freezer_state()


def assume_created(d: dict[str, Any]) -> dict[str, Any]:
    """``to_state`` of a manager whose ``create`` may have been cut short (the
    runtime was killed during it): its leaf directories count as ours, so that
    ``destroy`` removes them.  Parents it may have made are not known and stay
    (rmdir of a leaf that is not there is not an error)."""
    out = dict(d)
    driver = d.get("driver", "v1")
    if driver == "systemd":
        out["inner"] = assume_created(d.get("inner") or {})
        return out
    leaves = list((d.get("dirs") or {}).values()) if driver == "v1" else [d.get("dir", "")]
    out["created"] = sorted({*(d.get("created") or []), *(p for p in leaves if p)})
    return out
