"""Writing ``linux.resources`` into cgroup v1 controller files.

A zero or absent value leaves the current setting alone: Docker's ``update``
sends every field, with 0 for "not given" (samples/update.resources.json).
Where the kernel cares about the order of two writes (memory vs memory+swap,
cfs period vs quota, rt period vs runtime) we pick the order from the current
values instead of failing half-way.
"""

from __future__ import annotations

import errno
import os

from ...spec import LinuxDevice, LinuxResources
from . import devrules
from .base import CgroupError, has_file, log, read_file, read_int, write_file

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    Dir = Callable[[str], str | None]  # controller name -> directory (None: not mounted)


def _need(d: Dir, ctrl: str, resource: str) -> str:
    path = d(ctrl)
    if not path:
        raise CgroupError(f"cannot set {resource} limit: the {ctrl} cgroup controller is not "
                          "available on this host")
    return path


def _limit(v: int) -> str:
    return "-1" if v < 0 else str(v)


def set_memory(d: Dir, r: LinuxResources) -> None:
    m = r.memory
    if m is None:
        return
    if m.kernel:
        log.warning("memory.kernel is deprecated and ignored (kernel memory limits are "
                    "not supported by this kernel)")
    if m.kernel_tcp:
        log.warning("memory.kernelTCP is ignored")
    limit, swap = m.limit or 0, m.swap or 0
    need = bool(limit or swap or m.reservation or m.disable_oom_killer
                or m.swappiness not in (None, -1))
    if not need:
        return
    path = _need(d, "memory", "memory")
    if limit == -1 and not swap:
        swap = -1  # unlimited memory implies unlimited memory+swap, as in runc
    if limit and m.check_before_update and limit > 0:
        usage = read_int(path, "memory.usage_in_bytes")
        if limit < usage:
            raise CgroupError(f"memory: cannot set limit {limit} below current usage {usage}")
    if swap and not has_file(path, "memory.memsw.limit_in_bytes"):
        if swap != -1 and swap != limit:
            raise CgroupError("memory.swap: swap accounting is not enabled on this host "
                              "(no memory.memsw.limit_in_bytes)")
        swap = 0
    if limit and swap:
        # memsw must stay >= limit at every moment: raise memsw first when growing.
        cur = read_int(path, "memory.limit_in_bytes", -1)
        if swap == -1 or (cur != -1 and swap >= cur):
            write_file(path, "memory.memsw.limit_in_bytes", _limit(swap), "memory.swap")
            write_file(path, "memory.limit_in_bytes", _limit(limit), "memory.limit")
        else:
            write_file(path, "memory.limit_in_bytes", _limit(limit), "memory.limit")
            write_file(path, "memory.memsw.limit_in_bytes", _limit(swap), "memory.swap")
    elif limit:
        _write_memory_limit(path, limit)
    elif swap:
        write_file(path, "memory.memsw.limit_in_bytes", _limit(swap), "memory.swap")
    if m.reservation:
        write_file(path, "memory.soft_limit_in_bytes", _limit(m.reservation), "memory.reservation")
    if m.disable_oom_killer:
        write_file(path, "memory.oom_control", "1", "memory.disableOOMKiller")
    if m.swappiness is not None and m.swappiness != -1:
        if not 0 <= m.swappiness <= 100:
            raise CgroupError(f"memory.swappiness: invalid value {m.swappiness} (0-100)")
        write_file(path, "memory.swappiness", m.swappiness, "memory.swappiness")


def _write_memory_limit(path: str, limit: int) -> None:
    """A limit alone: if it exceeds the current memsw limit, raise memsw with it
    (memsw was then presumably equal to the old limit, i.e. "no swap")."""
    try:
        write_file(path, "memory.limit_in_bytes", _limit(limit), "memory.limit")
    except CgroupError as e:
        cause = e.__cause__
        if not (isinstance(cause, OSError) and cause.errno == errno.EINVAL
                and has_file(path, "memory.memsw.limit_in_bytes")):
            raise
        write_file(path, "memory.memsw.limit_in_bytes", _limit(limit), "memory.swap")
        write_file(path, "memory.limit_in_bytes", _limit(limit), "memory.limit")


def _ordered_pair(path: str, first: tuple[str, int, str], second: tuple[str, int, str]) -> None:
    """Write two interdependent files; on EINVAL try the other order."""
    try:
        if first[1]:
            write_file(path, first[0], first[1], first[2])
        if second[1]:
            write_file(path, second[0], second[1], second[2])
    except CgroupError as e:
        cause = e.__cause__
        if not (isinstance(cause, OSError) and cause.errno == errno.EINVAL
                and first[1] and second[1]):
            raise
        write_file(path, second[0], second[1], second[2])
        write_file(path, first[0], first[1], first[2])


def set_cpu(d: Dir, r: LinuxResources) -> None:
    c = r.cpu
    if c is None:
        return
    if c.shares or c.quota or c.period or c.burst is not None or c.realtime_period \
            or c.realtime_runtime or c.idle:
        path = _need(d, "cpu", "cpu")
        if c.shares:
            write_file(path, "cpu.shares", c.shares, "cpu.shares")
            got = read_int(path, "cpu.shares")
            if got != c.shares:
                bound = "maximum" if c.shares > got else "minimum"
                raise CgroupError(f"cpu.shares: the {bound} allowed cpu-shares is {got}")
        _ordered_pair(path, ("cpu.cfs_period_us", c.period or 0, "cpu.period"),
                      ("cpu.cfs_quota_us", c.quota or 0, "cpu.quota"))
        if c.burst is not None:
            write_file(path, "cpu.cfs_burst_us", c.burst, "cpu.burst")
        _ordered_pair(path, ("cpu.rt_period_us", c.realtime_period or 0, "cpu.realtimePeriod"),
                      ("cpu.rt_runtime_us", c.realtime_runtime or 0, "cpu.realtimeRuntime"))
        if c.idle:
            write_file(path, "cpu.idle", c.idle, "cpu.idle")
    if c.cpus or c.mems:
        path = _need(d, "cpuset", "cpuset")
        if c.cpus:
            write_file(path, "cpuset.cpus", c.cpus, "cpu.cpus")
        if c.mems:
            write_file(path, "cpuset.mems", c.mems, "cpu.mems")


def set_pids(d: Dir, r: LinuxResources) -> None:
    if r.pids is None or not r.pids.limit:
        return
    path = _need(d, "pids", "pids")
    write_file(path, "pids.max", "max" if r.pids.limit < 0 else r.pids.limit, "pids.limit")


def set_blkio(d: Dir, r: LinuxResources) -> None:
    b = r.block_io
    if b is None:
        return
    lists = (("blkio.throttle.read_bps_device", b.throttle_read_bps_device),
             ("blkio.throttle.write_bps_device", b.throttle_write_bps_device),
             ("blkio.throttle.read_iops_device", b.throttle_read_iops_device),
             ("blkio.throttle.write_iops_device", b.throttle_write_iops_device))
    if not (b.weight or b.leaf_weight or b.weight_device or any(v for _, v in lists)):
        return
    path = _need(d, "blkio", "blockIO")
    # CFQ is gone from modern kernels; BFQ exposes its weight as blkio.bfq.weight.
    wfile = "blkio.weight" if has_file(path, "blkio.weight") else "blkio.bfq.weight"
    if b.weight:
        write_file(path, wfile, b.weight, "blockIO.weight")
    if b.leaf_weight:
        write_file(path, "blkio.leaf_weight", b.leaf_weight, "blockIO.leafWeight")
    for wd in b.weight_device or ():
        if wd.weight:
            write_file(path, wfile + "_device", f"{wd.major}:{wd.minor} {wd.weight}",
                       "blockIO.weightDevice")
        if wd.leaf_weight:
            write_file(path, "blkio.leaf_weight_device", f"{wd.major}:{wd.minor} {wd.leaf_weight}",
                       "blockIO.weightDevice.leafWeight")
    for fname, devs in lists:
        for t in devs or ():
            write_file(path, fname, f"{t.major}:{t.minor} {t.rate}", "blockIO." + fname[15:])


def set_hugetlb(d: Dir, r: LinuxResources, unified: str | None) -> None:
    if not r.hugepage_limits:
        return
    path = d("hugetlb")
    for h in r.hugepage_limits:
        if path:
            write_file(path, f"hugetlb.{h.page_size}.limit_in_bytes", _limit(h.limit),
                       f"hugepageLimits[{h.page_size}]")
        elif unified and has_file(unified, f"hugetlb.{h.page_size}.max"):
            # Hybrid host: hugetlb lives on the cgroup2 side only.
            write_file(unified, f"hugetlb.{h.page_size}.max",
                       "max" if h.limit < 0 else h.limit, f"hugepageLimits[{h.page_size}]")
        else:
            raise CgroupError(f"cannot set hugepageLimits[{h.page_size}]: no hugetlb cgroup "
                              f"controller for page size {h.page_size} on this host")


def set_devices(d: Dir, r: LinuxResources, devices: Sequence[LinuxDevice] | None) -> None:
    rules = devrules.container_rules(r.devices, devices)
    if not rules:
        return
    path = d("devices")
    if not path:
        log.warning("devices cgroup not available; device rules not enforced")
        return
    try:
        current = devrules.parse_list(read_file(path, "devices.list"))
    except (OSError, ValueError):
        current = None
    for allow, line in devrules.transition(current, rules):
        write_file(path, "devices.allow" if allow else "devices.deny", line, "devices")


def set_rdma(d: Dir, r: LinuxResources) -> None:
    if not r.rdma:
        return
    path = _need(d, "rdma", "rdma")
    for dev, lim in r.rdma.items():
        parts = []
        if lim.hca_handles is not None:
            parts.append(f"hca_handle={lim.hca_handles}")
        if lim.hca_objects is not None:
            parts.append(f"hca_object={lim.hca_objects}")
        if parts:
            write_file(path, "rdma.max", f"{dev} {' '.join(parts)}", f"rdma[{dev}]")


def set_network(d: Dir, r: LinuxResources) -> None:
    n = r.network
    if n is None:
        return
    if n.class_id:
        write_file(_need(d, "net_cls", "network.classID"), "net_cls.classid", n.class_id,
                   "network.classID")
    for p in n.priorities or ():
        write_file(_need(d, "net_prio", "network.priorities"), "net_prio.ifpriomap",
                   f"{p.name} {p.priority}", "network.priorities")


def set_all(d: Dir, r: LinuxResources, *, unified: str | None = None,
            devices: Sequence[LinuxDevice] | None = None) -> None:
    """Apply every resource; the first failure aborts with a resource-named error."""
    if r.unified:
        # runc's wording (engines and its tests match on "invalid configuration").
        raise CgroupError("invalid configuration: cannot use unified on cgroup v1 "
                          "(linux.resources.unified needs cgroup v2)")
    set_devices(d, r, devices)
    set_memory(d, r)
    set_cpu(d, r)
    set_pids(d, r)
    set_blkio(d, r)
    set_hugetlb(d, r, unified)
    set_rdma(d, r)
    set_network(d, r)


def cpuset_fill(path: str) -> None:
    """Make every level above and at ``path`` usable: fill empty cpus/mems top-down
    from the nearest ancestor that has both, then check that ``path`` has both.

    Done for every level whether or not we made it: with several creates under one
    parent (the Kubernetes pod pattern: /pod/c0 ... /pod/c7 at once, or an
    orchestrator's slots under one existing parent), the one that made ``/pod``
    may not have filled it yet when another makes ``/pod/c1`` and copies the
    parent's still-empty values -- then joining fails with ENOSPC.  Writing the
    parent's own values again is harmless, so racing creates agree.

    A level can also be replaced under us (a shared parent removed by the
    container that made it and made again, empty, by another create): a copy
    that finds its source empty walks the chain again.  That happens only when
    the tree changed, so it is bounded; if ``path`` still lacks cpus or mems the
    error says which, instead of the join failing later with a bare ENOSPC.
    """
    for _attempt in range(4):
        chain: list[str] = []
        cur = path
        while True:
            try:
                if read_file(cur, "cpuset.cpus") and read_file(cur, "cpuset.mems"):
                    break
            except FileNotFoundError:  # above the hierarchy's root, or gone
                break
            chain.append(cur)
            parent = os.path.dirname(cur)
            if parent == cur:
                break
            cur = parent
        if not chain:
            return
        if all(cpuset_inherit(p, os.path.dirname(p)) for p in reversed(chain)) \
                and _cpuset_filled(path):
            return
    for name in ("cpuset.cpus", "cpuset.mems"):
        try:
            if not read_file(path, name):
                raise CgroupError(f"cpuset {path}: {name} is empty and could not be copied "
                                  f"from {os.path.dirname(path)}")
        except OSError as e:
            raise CgroupError(f"cpuset {path}: {os.strerror(e.errno or 0).lower()}") from None


def _cpuset_filled(path: str) -> bool:
    try:
        return bool(read_file(path, "cpuset.cpus") and read_file(path, "cpuset.mems"))
    except OSError:
        return False


def cpuset_inherit(path: str, parent: str) -> bool:
    """A new v1 cpuset starts with empty cpus/mems and refuses tasks: copy the
    parent's.  False when the parent had nothing to give (it was replaced, or
    is being filled by someone else): the caller looks at the chain again."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        try:
            if read_file(path, name):
                continue
            value = read_file(parent, name)
        except OSError:
            return False
        if not value:
            return False
        write_file(path, name, value, "cpuset")
    return True
