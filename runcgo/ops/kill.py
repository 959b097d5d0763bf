"""``kill``: signal the init (through a pidfd, so a recycled pid is never hit) or all."""

from __future__ import annotations

import os

from .._lite import suppress
from ..errors import ContainerNotRunning
from ..kernel import cgroups
from ..kernel.signals import SIGKILL, SIGTERM, pidfd_send_signal
from ..state import ContainerState, Store, proc_start_time


def signal_init(st: ContainerState, sig: int) -> None:
    try:
        pidfd = os.pidfd_open(st.pid)
    except ProcessLookupError:
        raise ContainerNotRunning(st.id) from None
    try:
        info = proc_start_time(st.pid)
        if info is None or info[0] != st.init_start_time:
            raise ContainerNotRunning(st.id)
        pidfd_send_signal(pidfd, sig)
    finally:
        os.close(pidfd)


def signal_all(st: ContainerState, sig: int) -> None:
    """Every process in the container's cgroup, frozen first so none can fork away."""
    if not st.cgroup:
        signal_init(st, sig)
        return
    cg = cgroups.from_state(st.cgroup)
    frozen = False
    with suppress(OSError):
        cg.freeze()
        frozen = True
    try:
        for pid in cg.pids():
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
    finally:
        if frozen:
            with suppress(OSError):
                cg.thaw()


def _signal_leftovers(st: ContainerState, sig: int) -> None:
    """Processes left in a stopped container's cgroup (its init is gone)."""
    if not st.cgroup:
        return
    cg = cgroups.from_state(st.cgroup)
    if not cg.exists():
        return
    with suppress(OSError):
        for pid in cg.pids():
            with suppress(ProcessLookupError):
                os.kill(pid, sig)


def thaw_if_frozen(cg: cgroups.CgroupManager) -> None:
    """Thaw a frozen (paused) cgroup after a SIGKILL, as runc does: its processes
    act on the signal only once they run again, and until they have exited the
    cgroup can't be removed."""
    with suppress(Exception):
        if cg.freezer_state() == "frozen":
            cg.thaw()


def shares_host_pidns(st: ContainerState) -> bool:
    ns = st.config.get("namespaces") or {}
    return "pid" not in ns


def owns_pidns(st: ContainerState) -> bool:
    """The init is PID 1 of a pid namespace made for it: its death kills the rest."""
    ns = st.config.get("namespaces") or {}
    return "pid" in ns and ns["pid"] is None


async def kill(store: Store, container_id: str, sig: int = SIGTERM,
               all_processes: bool = False) -> None:
    with store.lock(container_id):
        st = store.load(container_id)
        if st.status == "stopped":
            if all_processes:
                # runc: --all on a stopped container signals what its cgroup
                # still holds (usually nothing) and succeeds.
                _signal_leftovers(st, sig)
                return
            raise ContainerNotRunning(container_id)
        if all_processes or shares_host_pidns(st):
            signal_all(st, sig)
        else:
            signal_init(st, sig)
        if sig == SIGKILL and st.cgroup:
            thaw_if_frozen(cgroups.from_state(st.cgroup))
