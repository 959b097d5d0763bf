"""``delete --force`` of a container whose state.json is damaged.

runc gives up here and leaves the init, its cgroup and the directory behind.
We clean up from the init record that ``create`` writes before state.json
exists (state.write_init_record): the init is killed only if its start time
still matches (a recycled pid is never hit), then everything left in its
cgroup, then the cgroup and the directory.  Without a record (nothing was
made yet, or the record was removed by hand) the cgroup is looked for where
``create`` puts it by default.  Mounts and namespaces die with the processes,
except a CNI network's pinned namespace: its record (ops/network.py) is
written before ADD, so DEL runs from it here too.
"""

from __future__ import annotations

import os
import time

from .._lite import suppress
from ..kernel import cgroups
from ..kernel.signals import SIGKILL, wait_pidfd
from ..state import Store, proc_start_time, read_init_record
from .kill import thaw_if_frozen

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def recover(store: Store, container_id: str, reason: str) -> str:
    """Remove what is left of ``container_id``; return one line saying what was done.
    The caller holds the container's lock."""
    record = read_init_record(store, container_id) or {}
    done: list[str] = []
    try:
        pid, start = int(record.get("pid") or 0), int(record.get("init_start_time") or 0)
        hooks = [(int(e[0]), int(e[1])) for e in record.get("hooks") or ()]
    except (TypeError, ValueError, IndexError):  # a record edited by hand
        pid, start, hooks = 0, 0, []
    cg = _cgroup(container_id, record)
    init_fd = _signal_if_same(pid, start) if pid > 0 else None
    if init_fd is not None:
        try:
            if cg is not None:
                thaw_if_frozen(cg)  # a paused init takes its SIGKILL only once thawed
            wait_pidfd(init_fd, 10.0)
        finally:
            os.close(init_fd)
        done.append(f"killed init {pid}")
    if hooks:
        from ..kernel.hooks import kill_session

        n = sum(kill_session(sid, not_before) for sid, not_before in hooks)
        if n:
            done.append(f"killed {n} hook process{'es' if n > 1 else ''}")
    if cg is not None:
        n = _empty(cg)
        if n:
            done.append(f"killed {n} process{'es' if n > 1 else ''} in its cgroup")
        cg.destroy()
        done.append(f"removed cgroup {cg.path}")
    if os.path.lexists(os.path.join(store.dir(container_id), "network.json")):
        from .network import disconnect_logged

        disconnect_logged(store, container_id)
        done.append("ran CNI DEL")
    criu_root = os.path.join(store.dir(container_id), "criu-root")
    if os.path.lexists(criu_root):
        from ..kernel.criu import root

        # A restore killed while criu ran: the rootfs is still bound here for criu
        # (never walked into: the bundle's files are below it).
        root.unbind(criu_root)
        done.append("unmounted criu's restore root")
    store.remove_dir(container_id)
    done.append("removed state dir")
    return f'state of "{container_id}" was damaged ({reason}); ' + ", ".join(done)


def _cgroup(container_id: str, record: dict[str, Any]) -> cgroups.CgroupManager | None:
    recorded = record.get("cgroup")
    if isinstance(recorded, dict):
        if not record.get("cgroup_made"):
            recorded = cgroups.assume_created(recorded)
        try:
            return cgroups.from_state(recorded)
        except (KeyError, TypeError, ValueError):  # a record edited by hand
            pass
    # No (usable) record: where `create` would have put it with no cgroupsPath.
    try:
        cg = cgroups.new_manager(container_id, None)
    except cgroups.CgroupError:
        return None
    if not cg.exists():
        return None
    return cgroups.from_state(cgroups.assume_created(cg.to_state()))


def _signal_if_same(pid: int, start_time: int) -> int | None:
    """SIGKILL ``pid`` through a pidfd if it is still the process started at
    ``start_time``; the open pidfd to wait on, or None if it was gone."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    info = proc_start_time(pid)
    if info is None or info[0] != start_time or info[1] in ("Z", "X"):
        os.close(pidfd)
        return None
    from ..kernel.signals import pidfd_send_signal

    with suppress(ProcessLookupError):
        pidfd_send_signal(pidfd, SIGKILL)
    return pidfd


def _empty(cg: cgroups.CgroupManager, timeout: float = 10.0) -> int:
    """SIGKILL every live process in the cgroup until none is left; how many."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while True:
        try:
            live = [p for p in cg.pids() if _alive(p)]
        except OSError:
            return len(seen)
        if not live or time.monotonic() > deadline:
            return len(seen)
        seen.update(live)
        with suppress(OSError, cgroups.CgroupError):
            cg.kill_all(SIGKILL)
        for p in live:  # without a freezer kill_all may have missed none, but be sure
            with suppress(ProcessLookupError):
                os.kill(p, SIGKILL)
        thaw_if_frozen(cg)
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    info = proc_start_time(pid)
    return info is not None and info[1] not in ("Z", "X")
