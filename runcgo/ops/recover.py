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
from ..kernel.signals import SIGKILL
from ..state import Store, proc_start_time, read_init_record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def recover(store: Store, container_id: str, reason: str) -> str:
    """Remove what is left of ``container_id``; return one line saying what was done.
    The caller holds the container's lock."""
    record = read_init_record(store, container_id) or {}
    done: list[str] = []
    pid, start = int(record.get("pid") or 0), int(record.get("init_start_time") or 0)
    if pid > 0 and _kill_if_same(pid, start):
        done.append(f"killed init {pid}")
    hooks = 0
    for entry in record.get("hooks") or ():
        from ..kernel.hooks import kill_session

        hooks += kill_session(int(entry[0]), int(entry[1]))
    if hooks:
        done.append(f"killed {hooks} hook process{'es' if hooks > 1 else ''}")
    cg = _cgroup(container_id, record)
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
    store.remove_dir(container_id)
    done.append("removed state dir")
    return f'state of "{container_id}" was damaged ({reason}); ' + ", ".join(done)


def _cgroup(container_id: str, record: dict[str, Any]) -> cgroups.CgroupManager | None:
    recorded = record.get("cgroup")
    if isinstance(recorded, dict):
        if not record.get("cgroup_made"):
            recorded = cgroups.assume_created(recorded)
        return cgroups.from_state(recorded)
    if record:
        return None
    # No record at all: where `create` would have put it with no cgroupsPath.
    try:
        cg = cgroups.new_manager(container_id, None)
    except cgroups.CgroupError:
        return None
    if not cg.exists():
        return None
    return cgroups.from_state(cgroups.assume_created(cg.to_state()))


def _kill_if_same(pid: int, start_time: int, timeout: float = 10.0) -> bool:
    """SIGKILL ``pid`` through a pidfd if it is still the process started at
    ``start_time``; wait for it to exit.  False if it was already gone."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        info = proc_start_time(pid)
        if info is None or info[0] != start_time or info[1] in ("Z", "X"):
            return False
        from ..kernel.signals import pidfd_send_signal

        with suppress(ProcessLookupError):
            pidfd_send_signal(pidfd, SIGKILL)
        import select

        select.select([pidfd], [], [], timeout)
        return True
    finally:
        os.close(pidfd)


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
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    info = proc_start_time(pid)
    return info is not None and info[1] not in ("Z", "X")
