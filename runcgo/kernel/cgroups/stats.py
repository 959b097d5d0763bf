"""Container statistics in the shape of runc's ``events --stats`` JSON.

Field names follow runc's types/events.go so tools that parse runc's output
(and people used to it) read ours unchanged.  Values are what the kernel
reports, converted to runc's units: CPU time in nanoseconds, memory in bytes.
"""

from __future__ import annotations

import os

from .base import read_file, read_int, read_keyed

TYPE_CHECKING = False  # typing imports re: ~4 ms a call; annotations are strings anyway
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_U64_MAX = 2**64 - 1
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _list_ints(path: str, name: str) -> list[int]:
    try:
        return [int(x) for x in read_file(path, name).split()]
    except (OSError, ValueError):
        return []


def _unlimited(v: int) -> int:
    return _U64_MAX if v == -1 else v


def _hugetlb_sizes() -> list[str]:
    """Page sizes as cgroup files name them (``2MB``, ``1GB``)."""
    out: list[str] = []
    try:
        names = os.listdir("/sys/kernel/mm/hugepages")
    except OSError:
        return out
    for n in names:
        kb = int(n.removeprefix("hugepages-").removesuffix("kB"))
        for unit, div in (("GB", 1 << 20), ("MB", 1 << 10), ("KB", 1)):
            if kb % div == 0:
                out.append(f"{kb // div}{unit}")
                break
    return sorted(out)


def _blkio_entries(path: str, name: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    try:
        text = read_file(path, name)
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            maj, mnr = parts[0].split(":")
            out.append({"major": int(maj), "minor": int(mnr), "op": parts[1],
                        "value": int(parts[2])})
    return out


def v1_stats(dir_for: Callable[[str], str | None], unified: str | None) -> dict[str, Any]:
    st: dict[str, Any] = {"cpu": {"usage": {}, "throttling": {}}, "cpuset": {}, "memory": {},
                          "pids": {}, "blkio": {}, "hugetlb": {}, "intel_rdt": {},
                          "network_interfaces": None}
    acct = dir_for("cpuacct")
    if acct:
        usage = st["cpu"]["usage"]
        usage["total"] = read_int(acct, "cpuacct.usage")
        usage["percpu"] = _list_ints(acct, "cpuacct.usage_percpu")
        usage["percpu_kernel"] = _list_ints(acct, "cpuacct.usage_percpu_sys")
        usage["percpu_user"] = _list_ints(acct, "cpuacct.usage_percpu_user")
        cs = read_keyed(acct, "cpuacct.stat")
        usage["user"] = cs.get("user", 0) * 1_000_000_000 // _CLK_TCK
        usage["kernel"] = cs.get("system", 0) * 1_000_000_000 // _CLK_TCK
    cpu = dir_for("cpu")
    if cpu:
        s = read_keyed(cpu, "cpu.stat")
        st["cpu"]["throttling"] = {"periods": s.get("nr_periods", 0),
                                   "throttledPeriods": s.get("nr_throttled", 0),
                                   "throttledTime": s.get("throttled_time", 0)}
    cs_dir = dir_for("cpuset")
    if cs_dir:
        st["cpuset"] = {"cpus": read_file_or(cs_dir, "cpuset.cpus"),
                        "mems": read_file_or(cs_dir, "cpuset.mems")}
    mem = dir_for("memory")
    if mem:
        raw = read_keyed(mem, "memory.stat")

        def entry(prefix: str) -> dict[str, int]:
            return {"limit": _unlimited(read_int(mem, prefix + "limit_in_bytes")),
                    "usage": read_int(mem, prefix + "usage_in_bytes"),
                    "max": read_int(mem, prefix + "max_usage_in_bytes"),
                    "failcnt": read_int(mem, prefix + "failcnt")}
        st["memory"] = {"cache": raw.get("total_cache", raw.get("cache", 0)),
                        "usage": entry("memory."), "swap": entry("memory.memsw."),
                        "kernel": entry("memory.kmem."), "kernelTCP": entry("memory.kmem.tcp."),
                        "raw": raw}
    pids = dir_for("pids")
    if pids:
        st["pids"] = {"current": read_int(pids, "pids.current"),
                      "limit": _unlimited_pids(read_int(pids, "pids.max"))}
    blk = dir_for("blkio")
    if blk:
        st["blkio"] = {
            "ioServiceBytesRecursive": _blkio_entries(blk, "blkio.throttle.io_service_bytes_recursive"),
            "ioServicedRecursive": _blkio_entries(blk, "blkio.throttle.io_serviced_recursive"),
        }
    hdir = dir_for("hugetlb")
    for size in _hugetlb_sizes():
        if hdir:
            st["hugetlb"][size] = {"usage": read_int(hdir, f"hugetlb.{size}.usage_in_bytes"),
                                   "max": read_int(hdir, f"hugetlb.{size}.max_usage_in_bytes"),
                                   "failcnt": read_int(hdir, f"hugetlb.{size}.failcnt")}
        elif unified and os.path.exists(os.path.join(unified, f"hugetlb.{size}.current")):
            ev = read_keyed(unified, f"hugetlb.{size}.events")
            st["hugetlb"][size] = {"usage": read_int(unified, f"hugetlb.{size}.current"),
                                   "failcnt": ev.get("max", 0)}
    return st


def _unlimited_pids(v: int) -> int:
    return 0 if v == -1 else v


def read_file_or(path: str, name: str, default: str = "") -> str:
    try:
        return read_file(path, name)
    except OSError:
        return default


def v2_stats(path: str) -> dict[str, Any]:
    st: dict[str, Any] = {"cpu": {"usage": {}, "throttling": {}}, "cpuset": {}, "memory": {},
                          "pids": {}, "blkio": {}, "hugetlb": {}, "intel_rdt": {},
                          "network_interfaces": None}
    cs = read_keyed(path, "cpu.stat")
    st["cpu"]["usage"] = {"total": cs.get("usage_usec", 0) * 1000,
                          "user": cs.get("user_usec", 0) * 1000,
                          "kernel": cs.get("system_usec", 0) * 1000}
    st["cpu"]["throttling"] = {"periods": cs.get("nr_periods", 0),
                               "throttledPeriods": cs.get("nr_throttled", 0),
                               "throttledTime": cs.get("throttled_usec", 0) * 1000}
    st["cpuset"] = {"cpus": read_file_or(path, "cpuset.cpus.effective"),
                    "mems": read_file_or(path, "cpuset.mems.effective")}
    raw = read_keyed(path, "memory.stat")
    if raw or os.path.exists(os.path.join(path, "memory.current")):
        cur = read_int(path, "memory.current")
        ev = read_keyed(path, "memory.events")
        swap_cur = read_int(path, "memory.swap.current")
        mem_max = read_int(path, "memory.max", -1)
        swap_max = read_int(path, "memory.swap.max", -1)
        st["memory"] = {
            "cache": raw.get("file", 0),
            "usage": {"limit": _unlimited(mem_max), "usage": cur,
                      "max": read_int(path, "memory.peak"), "failcnt": ev.get("max", 0)},
            # runc reports v2 swap as memory+swap (usage AND limit), for parity with
            # v1's memsw; a finite swap.max under an unlimited memory.max stays unlimited.
            "swap": {"limit": _unlimited(swap_max + mem_max if swap_max >= 0 and mem_max >= 0
                                         else -1),
                     "usage": cur + swap_cur, "failcnt": 0},
            "kernel": {"limit": 0, "usage": 0, "failcnt": 0},
            "kernelTCP": {"limit": 0, "usage": 0, "failcnt": 0},
            "raw": raw,
        }
    if os.path.exists(os.path.join(path, "pids.current")):
        st["pids"] = {"current": read_int(path, "pids.current"),
                      "limit": _unlimited_pids(read_int(path, "pids.max", -1))}
    st["blkio"] = _io_stat(path)
    for size in _hugetlb_sizes():
        if os.path.exists(os.path.join(path, f"hugetlb.{size}.current")):
            ev = read_keyed(path, f"hugetlb.{size}.events")
            st["hugetlb"][size] = {"usage": read_int(path, f"hugetlb.{size}.current"),
                                   "failcnt": ev.get("max", 0)}
    return st


def _io_stat(path: str) -> dict[str, Any]:
    """io.stat lines ``MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=..`` -> runc's blkio."""
    sbytes: list[dict[str, Any]] = []
    sios: list[dict[str, Any]] = []
    try:
        text = read_file(path, "io.stat")
    except OSError:
        return {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        maj, mnr = (int(x) for x in parts[0].split(":"))
        kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        for key, op, dest in (("rbytes", "Read", sbytes), ("wbytes", "Write", sbytes),
                              ("rios", "Read", sios), ("wios", "Write", sios)):
            if key in kv:
                dest.append({"major": maj, "minor": mnr, "op": op, "value": int(kv[key])})
    return {"ioServiceBytesRecursive": sbytes, "ioServicedRecursive": sios}
