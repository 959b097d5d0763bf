"""Writing ``linux.resources`` into one cgroup v2 directory.

Pure file logic (plus the eBPF device program, which needs a real cgroup2
directory), so it runs unchanged against a fake tree of plain files in unit
tests.  As on v1, zero/absent means "leave unchanged".
"""

from __future__ import annotations

from ...spec import LinuxDevice, LinuxResources
from . import convert, devrules
from .base import CgroupError, has_file, log, read_file, read_int, write_file

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Sequence


def _max(v: int) -> str:
    return "max" if v < 0 else str(v)


def _need(path: str, fname: str, resource: str) -> None:
    if not has_file(path, fname):
        ctrl = fname.split(".", 1)[0]
        raise CgroupError(f"cannot set {resource}: the {ctrl} controller is not enabled for "
                          f"{path} (no {fname})")


def set_memory(path: str, r: LinuxResources) -> None:
    m = r.memory
    if m is None:
        return
    if m.kernel:
        log.warning("memory.kernel is not supported on cgroup v2; ignored")
    if m.kernel_tcp:
        log.warning("memory.kernelTCP is not supported on cgroup v2; ignored")
    if m.disable_oom_killer:
        log.warning("memory.disableOOMKiller is not supported on cgroup v2; ignored")
    if m.swappiness not in (None, -1, 0):
        log.warning("memory.swappiness is not supported on cgroup v2; ignored")
    limit = m.limit or 0
    swap = convert.swap_to_v2(m.swap, limit or None)
    if limit and m.check_before_update and limit > 0:
        usage = read_int(path, "memory.current")
        if limit < usage:
            raise CgroupError(f"memory: cannot set limit {limit} below current usage {usage}")
    if swap is not None:
        if has_file(path, "memory.swap.max"):
            write_file(path, "memory.swap.max", _max(swap), "memory.swap")
        elif swap != -1:
            raise CgroupError("memory.swap: swap accounting is not available on this host "
                              "(no memory.swap.max)")
    if limit:
        _need(path, "memory.max", "memory.limit")
        write_file(path, "memory.max", _max(limit), "memory.limit")
    if m.reservation:
        _need(path, "memory.low", "memory.reservation")
        write_file(path, "memory.low", _max(m.reservation), "memory.reservation")


def set_cpu(path: str, r: LinuxResources) -> None:
    c = r.cpu
    if c is None:
        return
    if c.realtime_period or c.realtime_runtime:
        raise CgroupError("cpu.realtimePeriod/realtimeRuntime: realtime scheduling limits are "
                          "not supported on cgroup v2")
    if c.shares:
        _need(path, "cpu.weight", "cpu.shares")
        write_file(path, "cpu.weight", convert.shares_to_weight(c.shares), "cpu.shares")
    if c.quota or c.period:
        _need(path, "cpu.max", "cpu.quota")
        # Keep whichever half was not given (Docker sends 0 for "unchanged").
        try:
            cur_q, cur_p = read_file(path, "cpu.max").split()
        except (OSError, ValueError):
            cur_q, cur_p = "max", "100000"
        quota = cur_q if not c.quota else _max(c.quota)
        period = cur_p if not c.period else str(c.period)
        write_file(path, "cpu.max", f"{quota} {period}", "cpu.quota/period")
    if c.burst is not None:
        _need(path, "cpu.max.burst", "cpu.burst")
        write_file(path, "cpu.max.burst", c.burst, "cpu.burst")
    if c.idle:
        _need(path, "cpu.idle", "cpu.idle")
        write_file(path, "cpu.idle", c.idle, "cpu.idle")
    if c.cpus:
        _need(path, "cpuset.cpus", "cpu.cpus")
        write_file(path, "cpuset.cpus", c.cpus, "cpu.cpus")
    if c.mems:
        _need(path, "cpuset.mems", "cpu.mems")
        write_file(path, "cpuset.mems", c.mems, "cpu.mems")


def set_pids(path: str, r: LinuxResources) -> None:
    if r.pids is None or not r.pids.limit:
        return
    _need(path, "pids.max", "pids.limit")
    write_file(path, "pids.max", _max(r.pids.limit), "pids.limit")


def set_io(path: str, r: LinuxResources) -> None:
    b = r.block_io
    if b is None:
        return
    if b.leaf_weight:
        log.warning("blockIO.leafWeight is not supported on cgroup v2; ignored")
    bfq = has_file(path, "io.bfq.weight")
    if b.weight:
        if bfq:  # BFQ takes the v1 range (1..1000) as is
            write_file(path, "io.bfq.weight", b.weight, "blockIO.weight")
        else:
            _need(path, "io.weight", "blockIO.weight")
            write_file(path, "io.weight", convert.blkio_to_io_weight(b.weight), "blockIO.weight")
    for wd in b.weight_device or ():
        if not wd.weight:
            continue
        if bfq:
            write_file(path, "io.bfq.weight", f"{wd.major}:{wd.minor} {wd.weight}",
                       "blockIO.weightDevice")
        else:
            _need(path, "io.weight", "blockIO.weightDevice")
            write_file(path, "io.weight",
                       f"{wd.major}:{wd.minor} {convert.blkio_to_io_weight(wd.weight)}",
                       "blockIO.weightDevice")
    for key, devs in (("rbps", b.throttle_read_bps_device), ("wbps", b.throttle_write_bps_device),
                      ("riops", b.throttle_read_iops_device),
                      ("wiops", b.throttle_write_iops_device)):
        for t in devs or ():
            _need(path, "io.max", "blockIO throttle")
            rate = "max" if t.rate == 0 else str(t.rate)
            write_file(path, "io.max", f"{t.major}:{t.minor} {key}={rate}",
                       f"blockIO.throttle {key}")


def set_hugetlb(path: str, r: LinuxResources) -> None:
    for h in r.hugepage_limits or ():
        fname = f"hugetlb.{h.page_size}.max"
        _need(path, fname, f"hugepageLimits[{h.page_size}]")
        write_file(path, fname, _max(h.limit), f"hugepageLimits[{h.page_size}]")
        if has_file(path, f"hugetlb.{h.page_size}.rsvd.max"):
            write_file(path, f"hugetlb.{h.page_size}.rsvd.max", _max(h.limit),
                       f"hugepageLimits[{h.page_size}]")


def set_rdma(path: str, r: LinuxResources) -> None:
    for dev, lim in (r.rdma or {}).items():
        _need(path, "rdma.max", f"rdma[{dev}]")
        h = "max" if lim.hca_handles is None else str(lim.hca_handles)
        o = "max" if lim.hca_objects is None else str(lim.hca_objects)
        write_file(path, "rdma.max", f"{dev} hca_handle={h} hca_object={o}", f"rdma[{dev}]")


def set_unified(path: str, r: LinuxResources) -> None:
    for key, value in (r.unified or {}).items():
        if "/" in key or key in ("", ".", ".."):
            raise CgroupError(f"unified[{key!r}]: not a cgroup file name")
        if not has_file(path, key):
            ctrl = key.split(".", 1)[0]
            raise CgroupError(f"unified[{key!r}]: no such file in {path} (is the {ctrl} "
                              "controller enabled?)")
        write_file(path, key, value, f"unified[{key!r}]")


def set_devices(path: str, r: LinuxResources, devices: Sequence[LinuxDevice] | None,
                *, fake: bool = False) -> None:
    rules = devrules.container_rules(r.devices, devices)
    if not rules:
        return
    if fake:
        return
    from . import ebpf  # ctypes/bpf only when there are rules to enforce

    ebpf.apply_device_rules(path, rules)


def set_all(path: str, r: LinuxResources, *, devices: Sequence[LinuxDevice] | None = None,
            fake: bool = False) -> None:
    """Apply every resource to ``path``; ``fake`` skips the eBPF attach (unit tests)."""
    if r.network and (r.network.class_id or r.network.priorities):
        log.warning("network.classID/priorities have no cgroup v2 equivalent; ignored")
    set_devices(path, r, devices, fake=fake)
    set_memory(path, r)
    set_cpu(path, r)
    set_pids(path, r)
    set_io(path, r)
    set_hugetlb(path, r)
    set_rdma(path, r)
    set_unified(path, r)
