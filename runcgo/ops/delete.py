"""``delete``: remove a stopped (or, with force, any) container and what it owned."""

from __future__ import annotations

import os

from .._lite import suppress
from ..errors import ContainerNotFound, InvalidState, StateDamaged
from ..kernel import cgroups
from ..state import ContainerState, Store, load_checked, state_damage
from .start import run_logged_hooks


async def delete(store: Store, container_id: str, force: bool = False) -> str | None:
    """Returns None, or with ``force`` on damaged state one line saying what
    was cleaned up (ops/recover.py)."""
    try:
        lock = store.lock(container_id)
        lock.__enter__()
    except ContainerNotFound:
        if force:
            return None
        raise
    try:
        if not os.path.isdir(store.dir(container_id)):
            # Removed while we waited for the lock (a create that failed, another delete).
            if force:
                return None
            raise ContainerNotFound(container_id)
        try:
            st = load_checked(store, container_id, locked=True)
        except Exception as exc:
            if not force:
                raise
            # Whatever the damage (or however the store words it), --force
            # cleans up from the init record.
            from .recover import recover

            reason = exc.reason if isinstance(exc, StateDamaged) else (
                state_damage(store, container_id) or str(exc))
            return recover(store, container_id, reason)
        if st.status in ("running", "paused") and not force:
            raise InvalidState(f"cannot delete container {container_id} that is not stopped: "
                               f"{st.status}")
        if st.status != "stopped":
            _kill_and_wait(st)
        destroy(store, st)
    finally:
        lock.__exit__(None, None, None)
    run_logged_hooks("poststop", st, "stopped")
    return None


def destroy(store: Store, st: ContainerState) -> None:
    if st.cgroup:
        from ..kernel.cgroups.base import pidns_of
        from ..kernel.signals import SIGKILL
        from .kill import owns_pidns, thaw_if_frozen

        cg = cgroups.from_state(st.cgroup)
        # Stragglers: processes of a container without a pid namespace of its own,
        # and runtime helpers a fault left behind (setup children: in our pid
        # namespace).  A container with its own pid namespace lost the rest with its
        # init; a process in the cgroup from yet another pid namespace belongs to a
        # container sharing the cgroupsPath: not ours to kill.
        own = owns_pidns(st)
        here = pidns_of("self")
        with suppress(OSError):
            for pid in cg.pids():
                if own and pidns_of(str(pid)) not in (here, None):
                    continue
                with suppress(ProcessLookupError):
                    os.kill(pid, SIGKILL)
        thaw_if_frozen(cg)
        cg.destroy()
        from ..kernel.cgroups.base import remove_unused

        remove_unused(cg.leaf_dirs())
    if st.network or os.path.exists(os.path.join(store.dir(st.id), "network.json")):
        from .network import disconnect_logged

        disconnect_logged(store, st.id)  # after the processes: DEL finds a quiet namespace
    store.remove_dir(st.id)


def _kill_and_wait(st: ContainerState, timeout: float = 10.0) -> None:
    from ..kernel.signals import SIGKILL, wait_pidfd
    from .kill import owns_pidns, signal_all, signal_init, thaw_if_frozen

    try:
        pidfd = os.pidfd_open(st.pid)
    except ProcessLookupError:
        return
    try:
        with suppress(Exception):
            # When the init is PID 1 of a namespace of its own, its death takes
            # every process of the container with it (as runc: no freezing).
            if st.cgroup and not owns_pidns(st):
                signal_all(st, SIGKILL)
            else:
                signal_init(st, SIGKILL)
        if st.cgroup:
            thaw_if_frozen(cgroups.from_state(st.cgroup))
        wait_pidfd(pidfd, timeout)
        with suppress(ChildProcessError):
            os.waitpid(st.pid, os.WNOHANG)
    finally:
        os.close(pidfd)
