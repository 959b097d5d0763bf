"""``kill``: signal the init (through a pidfd, so a recycled pid is never hit) or all."""

from __future__ import annotations

import os

from .._lite import suppress
from ..errors import ContainerNotRunning
from ..kernel import cgroups
from ..kernel.signals import SIGTERM, pidfd_send_signal
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


def signal_leftovers(st: ContainerState, sig: int) -> None:
    """``kill --all`` of a stopped container: its init is gone, but processes it left may
    live on in its cgroup (in a pod sharing one pid namespace, they are reparented to the
    pod's init, not killed).  containerd sends this after every container exit, and runc
    signals whatever is left and succeeds; with no cgroup (or nothing in it) there is
    nothing to do, which is not an error either."""
    if st.cgroup and cgroups.from_state(st.cgroup).exists():
        signal_all(st, sig)


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
            if not all_processes:
                raise ContainerNotRunning(container_id)
            signal_leftovers(st, sig)
            return
        if all_processes or shares_host_pidns(st):
            signal_all(st, sig)
        else:
            signal_init(st, sig)
